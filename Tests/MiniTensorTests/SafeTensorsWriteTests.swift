import Foundation
import MiniTensor
import TestSupport
import Testing

extension SafeTensorsTests {
  @Suite("write")
  struct Write {
    /// Values with integer, fractional, tiny, large and negative elements.
    static func sampleValues(_ count: Int, seed: UInt64) -> Tensor {
      var rng = PhiloxRNG(seed: seed)
      return Tensor.randomNormal([count], standardDeviation: 3, using: &rng)
    }

    @Test(arguments: SafeTensorsDType.allCases)
    func roundTripsEveryDType(_ dtype: SafeTensorsDType) throws {
      let directory = try ScratchDirectory()
      let path = directory.file("\(dtype.rawValue).safetensors")
      var tensor = Self.sampleValues(3 * 5 * 7, seed: 11).reshaped([3, 5, 7])
      if dtype.isInteger {
        // Integers in the dtype's range, from exact Float values.
        let (low, high): (Float, Float) = dtype == .u8 ? (0, 255) : (-1e6, 1e6)
        tensor = Tensor(
          tensor.scalars.map { min(max(($0 * 1e5).rounded(), low), high) }, shape: [3, 5, 7])
      }
      try SafeTensors.write([SafeTensorsEntry("x", tensor, as: dtype)], to: path)

      let file = try SafeTensorsFile(path: path)
      #expect(file.info(named: "x")?.dtype == dtype)
      #expect(file.info(named: "x")?.shape == [3, 5, 7])
      let read = try file.tensor(named: "x")
      switch dtype {
      case .f32: #expect(read.scalars == tensor.scalars)
      // Relative rounding error at most half an ulp: 2^-11 for binary16, 2^-8 for bfloat16.
      case .f16: expectClose(read, tensor, rtol: 1.0 / 2048, atol: 1e-7)
      case .bf16: expectClose(read, tensor, rtol: 1.0 / 256, atol: 0)
      case .i32, .i64, .u8:
        #expect(read.scalars == tensor.scalars)
        #expect(try file.integers(named: "x") == tensor.scalars.map { Int64($0) })
      }
    }

    @Test func halfPrecisionRoundsToNearestEven() throws {
      let directory = try ScratchDirectory()
      let path = directory.file("rounding.safetensors")
      let ulp7: Float = 1.0 / 128  // bfloat16 spacing at 1
      let ulp10: Float = 1.0 / 1024  // binary16 spacing at 1
      // Ties go to the even neighbour; just above a tie goes up.
      let bf16In: [Float] = [
        1 + ulp7 / 2, 1 + 3 * ulp7 / 2, 1 + ulp7 / 2 + ulp7 / 64, -.greatestFiniteMagnitude,
        .infinity,
      ]
      let bf16Out: [Float] = [1, 1 + 2 * ulp7, 1 + ulp7, -.infinity, .infinity]
      let f16In: [Float] = [1 + ulp10 / 2, 1 + 3 * ulp10 / 2, 65520, -1e-8]
      let f16Out: [Float] = [1, 1 + 2 * ulp10, .infinity, -0.0]
      try SafeTensors.write(
        [
          SafeTensorsEntry("b", Tensor(bf16In), as: .bf16),
          SafeTensorsEntry("h", Tensor(f16In), as: .f16),
          SafeTensorsEntry("n", Tensor([.nan, -.nan]), as: .bf16),
        ], to: path)
      let file = try SafeTensorsFile(path: path)
      #expect(try file.tensor(named: "b").scalars == bf16Out)
      #expect(try file.tensor(named: "h").scalars == f16Out)
      let nans = try file.tensor(named: "n").scalars
      #expect(nans.allSatisfy { $0.isNaN })
      #expect(nans.map(\.sign) == [.plus, .minus])
    }

    @Test func layoutMatchesTheReferenceWriter() throws {
      let directory = try ScratchDirectory()
      let path = directory.file("layout.safetensors")
      let entries = [
        SafeTensorsEntry("u", uint8: [1, 2, 3], shape: [3]),
        SafeTensorsEntry("b", Tensor([1, 2, 3]), as: .bf16),
        SafeTensorsEntry("a", Tensor([1, 2, 3]), as: .f16),
        SafeTensorsEntry("z", Tensor([4]), as: .f32),
        SafeTensorsEntry("ids", int64: [7, 8], shape: [1, 2]),
        SafeTensorsEntry("c", int32: [-1], shape: []),
        SafeTensorsEntry("y", Tensor.zeros([0, 2]), as: .f32),
      ]
      try SafeTensors.write(entries, metadata: ["format": "pt"], to: path)
      let file = try SafeTensorsFile(path: path)
      // Widest dtype first, then by name; contiguous from 0; each aligned to its element size.
      #expect(file.names == ["ids", "y", "z", "c", "b", "a", "u"])
      #expect(file.bufferStart % 8 == 0)
      var end = 0
      for info in file.tensorInfos {
        #expect(info.byteRange.lowerBound == end, "\(info.name)")
        #expect(info.byteRange.lowerBound % info.dtype.elementSize == 0, "\(info.name)")
        end = info.byteRange.upperBound
      }
      #expect(file.metadata == ["format": "pt"])
      #expect(try file.integers(named: "ids") == [7, 8])
      #expect(try file.integers(named: "c") == [-1])
      #expect(try file.tensor(named: "c").shape == [])
      #expect(try file.integers(named: "u") == [1, 2, 3])
      #expect(try file.tensor(named: "y").shape == [0, 2])
    }

    @Test func writesViewsAndMetadataWithSpecialCharacters() throws {
      let directory = try ScratchDirectory()
      let path = directory.file("views.safetensors")
      let base = Tensor.arange(12).reshaped([3, 4])
      let metadata = ["quote \"x\"": "back\\slash\nnew line\t\u{1}", "中文": "值"]
      try SafeTensors.write(
        ["t": base.transposed(), "name \"with\" quotes": Tensor(1)], metadata: metadata,
        to: path)
      let file = try SafeTensorsFile(path: path)
      #expect(file.metadata == metadata)
      let read = try file.tensor(named: "t")
      #expect(read.shape == [4, 3])
      #expect(read.scalars == base.transposed().scalars)
      #expect(try file.tensor(named: "name \"with\" quotes").scalars == [1])
    }

    @Test func rejectsBadEntries() throws {
      let directory = try ScratchDirectory()
      let path = directory.file("bad.safetensors")
      expectSafeTensorsError(.duplicateName, path: path, tensor: "w") {
        try SafeTensors.write(
          [SafeTensorsEntry("w", Tensor([1])), SafeTensorsEntry("w", Tensor([2]))], to: path)
      }
      expectSafeTensorsError(.invalidName, path: path, tensor: "__metadata__") {
        try SafeTensors.write([SafeTensorsEntry("__metadata__", Tensor([1]))], to: path)
      }
      let cases: [(SafeTensorsDType, Float)] = [
        (.i32, 2.5), (.i32, 3e9), (.u8, 256), (.u8, -1), (.i64, .nan), (.i64, .infinity),
      ]
      for (dtype, value) in cases {
        expectSafeTensorsError(.notRepresentable, path: path, tensor: "ints") {
          try SafeTensors.write(
            [SafeTensorsEntry("ints", Tensor([0, 1, value]), as: dtype)], to: path)
        }
      }
      #expect(try directory.contents().isEmpty, "nothing may be left behind")
    }

    @Test func failedWritesLeaveThePreviousFileAndNoTemporaryFile() throws {
      let directory = try ScratchDirectory()
      let path = directory.file("model.safetensors")
      try SafeTensors.write(["w": Tensor([1, 2, 3])], metadata: ["v": "1"], to: path)
      let original = try Data(contentsOf: URL(fileURLWithPath: path))

      // Fails while streaming data, after the temporary file was created.
      expectSafeTensorsError(.notRepresentable, path: path, tensor: "w") {
        try SafeTensors.write(["w": Tensor([1, 2, 3.5])], as: .i32, to: path)
      }
      // Fails before creating anything.
      expectSafeTensorsError(.duplicateName, path: path, tensor: "w") {
        try SafeTensors.write(
          [SafeTensorsEntry("w", Tensor([9])), SafeTensorsEntry("w", Tensor([9]))], to: path)
      }
      #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == original)
      #expect(try directory.contents() == ["model.safetensors"])
      #expect(try SafeTensorsFile(path: path).metadata == ["v": "1"])

      // A directory in the way of the rename: it survives and the temporary file is removed.
      let blocked = directory.file("blocked.safetensors")
      try FileManager.default.createDirectory(atPath: blocked, withIntermediateDirectories: false)
      try Data("keep".utf8).write(to: URL(fileURLWithPath: blocked + "/inside"))
      expectSafeTensorsError(.io, path: blocked) {
        try SafeTensors.write(["w": Tensor([1])], to: blocked)
      }
      #expect(try directory.contents() == ["blocked.safetensors", "model.safetensors"])
      #expect(try FileManager.default.contentsOfDirectory(atPath: blocked) == ["inside"])

      // A target directory that does not exist.
      let nowhere = directory.file("missing/model.safetensors")
      expectSafeTensorsError(.io, path: nowhere) {
        try SafeTensors.write(["w": Tensor([1])], to: nowhere)
      }
      #expect(try directory.contents() == ["blocked.safetensors", "model.safetensors"])
    }

    @Test func overwritesAtomicallyWhileTheOldFileIsMapped() throws {
      let directory = try ScratchDirectory()
      let path = directory.file("model.safetensors")
      try SafeTensors.write(["w": Tensor([1, 2, 3])], to: path)
      let old = try SafeTensorsFile(path: path).tensor(named: "w")
      try SafeTensors.write(["w": Tensor([4, 5]), "v": Tensor([6])], to: path)
      // The old mapping still sees the old inode; the path now holds the new file.
      #expect(old.scalars == [1, 2, 3])
      let file = try SafeTensorsFile(path: path)
      #expect(file.names.sorted() == ["v", "w"])
      #expect(try file.tensor(named: "w").scalars == [4, 5])
      #expect(try directory.contents() == ["model.safetensors"])
    }
  }
}
