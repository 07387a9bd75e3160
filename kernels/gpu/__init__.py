"""CuPy kernels (issue: GPU backend). Not written yet: no GPU was available to run them.

Until they exist, the dispatcher runs the reference twins on CuPy arrays, which are
written with ``xp`` and therefore work on either array module.
"""
__all__ = []
