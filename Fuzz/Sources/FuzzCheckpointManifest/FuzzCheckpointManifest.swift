import FuzzSupport

@testable import MiniTokenize
@testable import MiniTrain

/// A checkpoint's `manifest.json`, beside two small files it may list. With the first byte
/// odd the input is the manifest's body and gets a correct `manifest_sha256` line, so the
/// fuzzer reaches the JSON and the file checks behind the checksum; otherwise it is the whole
/// manifest.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCheckpointManifest(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  let bytes = fuzzBytes(data, size)
  guard let selector = bytes.first else { return 0 }
  var manifest = [UInt8](UnsafeRawBufferPointer(rebasing: bytes.dropFirst()))
  if selector & 1 == 1 {
    manifest = CheckpointManifest.sealed(manifest)
  }
  let folder = FuzzScratch.emptyFolder("step-000003")
  _ = FuzzScratch.write(Array("{}\n".utf8), name: "step-000003/config.json")
  _ = FuzzScratch.write(Array("x".utf8), name: "step-000003/trainer_state.json")
  _ = FuzzScratch.write(manifest, name: "step-000003/manifest.json")
  if let verified = try? CheckpointManifest.verify(directory: folder) {
    precondition(verified.step >= 0, "manifest: negative step \(verified.step)")
  }
  return 0
}
