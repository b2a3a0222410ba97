import FuzzSupport
import MiniTensor

@testable import MiniTrain

/// A checkpoint's `trainer_state.json` with each data cursor the loaders write: a state that
/// reads must hold counters a run can continue from, and RNG states that restore.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTrainerState(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  let path = FuzzScratch.write(fuzzBytes(data, size), name: "trainer_state.json")
  if let state = try? TrainerStateFile<SFTLoader.Cursor>.read(path) {
    check(state.progress)
    var rng = PhiloxRNG(state: state.dataCursor.shuffleState)
    _ = rng.next()
    _ = state.schedule.learningRate(atStep: state.progress.step)
  }
  if let state = try? TrainerStateFile<TokenWindowLoader.Cursor>.read(path) {
    check(state.progress)
    _ = state.schedule.learningRate(atStep: state.progress.step)
  }
  if let state = try? TrainerStateFile<PreferenceLoader.Cursor>.read(path) {
    check(state.progress)
  }
  return 0
}

/// The counters a resumed run adds to must not be near overflow.
func check(_ progress: TrainingProgress) {
  var next = progress
  next.step += 1
  next.tokensSeen += 1 << 40
  next.skippedSteps += 1
  next.consecutiveSkips += 1
  next.rollbacks += 1
  precondition(progress.problem == nil, "trainer state: read with \(progress.problem ?? "")")
}
