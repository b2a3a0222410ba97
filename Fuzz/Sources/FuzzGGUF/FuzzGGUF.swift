import FuzzSupport
import MiniLlama

/// A `.gguf` file: header, metadata and tensor infos are validated, then every tensor of a
/// sane size is read and dequantized.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGGUF(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  let path = FuzzScratch.write(fuzzBytes(data, size), name: "input.gguf")
  guard let reader = try? GGUFReader(path: path) else { return 0 }
  for info in reader.tensors where info.count <= 1 << 20 {
    let values = reader.values(of: info)
    precondition(values.count == info.count, "GGUF: \(values.count) values for \(info.count)")
    precondition(reader.bytes(of: info).count == info.byteCount, "GGUF: byte count")
  }
  for (key, _) in reader.metadata { _ = reader.value(key) }
  return 0
}
