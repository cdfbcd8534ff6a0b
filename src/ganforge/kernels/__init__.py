"""Faster kernels for the same maths, chosen openly by the trainer and named in the run header.

cpu/   the fused CPU joint step: DFT and few-channel convolutions, one D pass with a shared backward
"""
