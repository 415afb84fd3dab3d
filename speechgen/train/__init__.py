"""speechgen.train"""
