"""The Bayesian optimizer on BoTorch: the ONLY package of honed that imports torch.

Import it only in optimizer processes; the API process never loads torch.
"""
