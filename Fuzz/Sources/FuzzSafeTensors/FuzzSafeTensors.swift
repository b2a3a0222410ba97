import FuzzSupport
import MiniTensor

/// A `.safetensors` file: the header is parsed and validated, then every tensor of a sane size
/// is read (floats converted, integers decoded).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafeTensors(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  let path = FuzzScratch.write(fuzzBytes(data, size), name: "input.safetensors")
  guard let file = try? SafeTensorsFile(path: path) else { return 0 }
  for name in file.names {
    guard let info = file.info(named: name), info.elementCount <= 1 << 20 else { continue }
    _ = try? file.tensor(named: name)
    if info.dtype.isInteger { _ = try? file.integers(named: name) }
  }
  _ = file.metadata
  return 0
}
