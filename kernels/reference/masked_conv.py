"""(placeholder: filled in by the kernels work)"""
__all__ = []
