"""Engines turn an experiment's state into proposed points (request -> decision).

Only ``honed.engine.botorch`` may import torch; everything here is numpy/scipy.
"""
