import Foundation
import FuzzSupport
import MiniLlama

/// `config.json`: decoding validates every key; a configuration that decodes must give its
/// tensor list and survive an encode/decode round trip unchanged.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLlamaConfig(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  let bytes = Data(fuzzBytes(data, size))
  guard let config = try? JSONDecoder().decode(LlamaConfig.self, from: bytes) else { return 0 }
  let shapes = config.tensorShapes
  precondition(shapes.count >= 2 + 9 * config.layerCount, "config: \(shapes.count) tensors")
  _ = config.parameterCount
  do {
    let again = try JSONDecoder().decode(LlamaConfig.self, from: try config.jsonData())
    precondition(again == config, "config: the round trip changed \(config) into \(again)")
  } catch {
    preconditionFailure("config: a decoded configuration does not round-trip: \(error)")
  }
  let path = FuzzScratch.write(fuzzBytes(data, size), name: "config.json")
  _ = try? LlamaConfig.load(contentsOf: path)
  return 0
}
