"""speechgen.data"""
