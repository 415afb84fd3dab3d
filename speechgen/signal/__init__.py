"""speechgen.signal"""
