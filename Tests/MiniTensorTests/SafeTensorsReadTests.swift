import Foundation
import MiniTensor
import TestSupport
import Testing

extension SafeTensorsTests {
  @Suite("read")
  struct Read {
    @Test func zeroSizeAndScalarTensorsAreValid() throws {
      let directory = try ScratchDirectory()
      // Listed out of offset order on purpose: key order in the JSON is free.
      let header = """
        {"scalar": \(SafeTensorsTests.entry(shape: "[]", offsets: "[0,4]")),
         "empty": \(SafeTensorsTests.entry(shape: "[0, 3]", offsets: "[4,4]")),
         "__metadata__": {"note": "caf\\u00e9 \\"q\\"\\n"},
         "row": \(SafeTensorsTests.entry(shape: "[2]", offsets: "[4,12]")),
         "tail": \(SafeTensorsTests.entry("I64", shape: "[0]", offsets: "[12,12]"))}
        """ + "   "  // Trailing spaces, as writers pad headers.
      let path = try directory.write(
        safetensorsBytes(header: header, buffer: littleEndianBytes([2.5, -1, 7])),
        to: "valid.safetensors")
      let file = try SafeTensorsFile(path: path)
      #expect(file.names == ["scalar", "empty", "row", "tail"])
      #expect(file.metadata == ["note": "café \"q\"\n"])

      let scalar = try file.tensor(named: "scalar")
      #expect(scalar.shape == [])
      #expect(scalar.scalars == [2.5])
      let empty = try file.tensor(named: "empty")
      #expect(empty.shape == [0, 3])
      #expect(empty.scalars.isEmpty)
      #expect(try file.tensor(named: "row").scalars == [-1, 7])
      #expect(try file.integers(named: "tail").isEmpty)
      #expect(file.info(named: "row")?.byteRange == 4..<12)
      #expect(file.info(named: "empty")?.elementCount == 0)
      #expect(try file.loadAll().keys.sorted() == ["empty", "row", "scalar", "tail"])
    }

    @Test func headerWithNoTensors() throws {
      let directory = try ScratchDirectory()
      let path = try directory.write(safetensorsBytes(header: "{}      "), to: "none.safetensors")
      let file = try SafeTensorsFile(path: path)
      #expect(file.names.isEmpty)
      #expect(file.metadata.isEmpty)
      #expect(try file.loadAll().isEmpty)
    }

    @Test func alignedFloat32IsAViewOfTheMapping() throws {
      let directory = try ScratchDirectory()
      let values: [Float] = [1, -2, 3.25, 4e-3, 5, 6]
      var header = "{\"w\": \(SafeTensorsTests.entry(shape: "[2, 3]", offsets: "[0,24]"))}"
      while header.utf8.count % 8 != 0 { header += " " }  // Keeps the data aligned.
      let path = try directory.write(
        safetensorsBytes(header: header, buffer: littleEndianBytes(values)), to: "w.safetensors")

      var tensor: Tensor
      do {
        let file = try SafeTensorsFile(path: path)
        tensor = try file.tensor(named: "w")
        let mapped = try file.withRawBytes(named: "w") { $0.baseAddress }
        #expect(firstElementAddress(tensor) == mapped, "tensor should view the mapping")
      }
      // The file value is gone; the tensor still keeps the mapping alive.
      #expect(tensor.shape == [2, 3])
      #expect(tensor.scalars == values)

      // Writing copies (the mapping is read-only) and leaves the file unchanged.
      tensor[0, 0] = 100
      #expect(tensor.scalars == [100] + values.dropFirst())
      #expect(try SafeTensorsFile(path: path).tensor(named: "w").scalars == values)
    }

    @Test func unalignedFloat32IsCopied() throws {
      let directory = try ScratchDirectory()
      let values: [Float] = [0.5, -1.5, 3]
      // A 2-byte tensor first puts "w" at buffer offset 2; a 38-byte header puts the buffer at 46.
      var header =
        "{\"h\": \(SafeTensorsTests.entry("F16", shape: "[1]", offsets: "[0,2]")),"
        + " \"w\": \(SafeTensorsTests.entry(shape: "[3]", offsets: "[2,14]"))}"
      while (8 + header.utf8.count + 2) % 4 == 0 { header += " " }
      let buffer = [0x00, 0x3C] + littleEndianBytes(values)  // F16 1.0 is 0x3C00.
      let path = try directory.write(
        safetensorsBytes(header: header, buffer: buffer), to: "unaligned.safetensors")
      let file = try SafeTensorsFile(path: path)
      let tensor = try file.tensor(named: "w")
      let mapped = try file.withRawBytes(named: "w") { $0.baseAddress }
      #expect(firstElementAddress(tensor) != mapped)
      #expect(tensor.scalars == values)
      #expect(try file.tensor(named: "h").scalars == [1])
    }

    @Test func integerTensorsConvertAndReadExactly() throws {
      let directory = try ScratchDirectory()
      let big: Int64 = (1 << 60) + 1
      let buffer =
        withUnsafeBytes(of: big.littleEndian, Array.init)
        + withUnsafeBytes(of: Int64(-3).littleEndian, Array.init)
        + withUnsafeBytes(of: Int32(-7).littleEndian, Array.init) + [255, 0]
      let header = """
        {"ids": \(SafeTensorsTests.entry("I64", shape: "[2]", offsets: "[0,16]")),\
        "small": \(SafeTensorsTests.entry("I32", shape: "[1]", offsets: "[16,20]")),\
        "bytes": \(SafeTensorsTests.entry("U8", shape: "[2]", offsets: "[20,22]"))}
        """
      let path = try directory.write(
        safetensorsBytes(header: header, buffer: buffer), to: "ints.safetensors")
      let file = try SafeTensorsFile(path: path)
      #expect(try file.integers(named: "ids") == [big, -3])
      #expect(try file.integers(named: "small") == [-7])
      #expect(try file.integers(named: "bytes") == [255, 0])
      #expect(try file.tensor(named: "ids").scalars == [Float(big), -3])
      #expect(try file.tensor(named: "bytes").scalars == [255, 0])
      let raw = try file.withRawBytes(named: "small") { Array($0) }
      #expect(raw == withUnsafeBytes(of: Int32(-7).littleEndian, Array.init))
    }
  }
}
