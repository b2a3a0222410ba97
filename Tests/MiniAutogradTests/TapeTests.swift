import MiniAutograd
import MiniTensor
import TestSupport
import Testing
