import MiniTensor

/// Reference versions of the fused layers, composed from primitive operations.
///
/// Each gives the same values and gradients as its fused counterpart (within rounding) at a higher
/// cost in time and memory: they define what the fused kernels compute, serve as the tests'
/// references, and show how to build a layer from primitives.
public enum Unfused {}
