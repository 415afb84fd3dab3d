"""speechgen.losses"""
