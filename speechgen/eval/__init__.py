"""speechgen.eval"""
