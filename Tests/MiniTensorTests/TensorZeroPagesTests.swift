import MiniTensor
import TestSupport
import Testing

@Suite("Tensor.zeroPages")
struct TensorZeroPagesTests {
  @Test func commitsOnlyThePagesWrittenAndReadsAsZeros() {
    let shape = [4_096, 4_096]  // 64 MiB
    let tensor = Tensor.zeroPages(shape)
    let written = [0, 5_000_000, 16_777_215]
    let resident = tensor.withUnsafeSharedMutableBufferPointer { buffer in
      for (k, index) in written.enumerated() { buffer[index] = Float(k + 1) }
      return residentPages(UnsafeRawPointer(buffer.baseAddress!), bytes: buffer.count * 4)
    }
    #expect(resident >= written.count && resident <= 2 * written.count, "\(resident) pages")
    let scalars = tensor.scalars
    #expect(written.map { scalars[$0] } == [1, 2, 3])
    #expect(scalars.reduce(0, +) == 6)
  }

  @Test func isAnOrdinaryTensorToEverythingElse() {
    let tensor = Tensor.zeroPages([3, 4])
    var copy = tensor
    copy = copy + Tensor(repeating: 2, shape: [3, 4])
    #expect(tensor.scalars == [Float](repeating: 0, count: 12))
    #expect(copy.scalars == [Float](repeating: 2, count: 12))
    #expect(tensor.shape == [3, 4])
  }
}
