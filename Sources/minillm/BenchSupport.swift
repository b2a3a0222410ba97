import ArgumentParser
import Foundation
import MiniLlama
import MiniTensor

extension LlamaConfig.Preset: ExpressibleByArgument {}

/// Prints `object` as one JSON line on standard output (keys sorted; `/` escaped as `\/`
/// unless `escapingSlashes` is false).
func printJSON(_ object: [String: Any], escapingSlashes: Bool = true) throws {
  let options: JSONSerialization.WritingOptions =
    escapingSlashes ? [.sortedKeys] : [.sortedKeys, .withoutEscapingSlashes]
  let data = try JSONSerialization.data(withJSONObject: object, options: options)
  print(String(decoding: data, as: UTF8.self))
}
