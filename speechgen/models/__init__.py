"""speechgen.models"""
