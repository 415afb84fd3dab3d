"""speechgen.bin"""
