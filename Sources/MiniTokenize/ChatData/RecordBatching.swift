import Foundation

/// Records of one source, read in order, waiting to be turned into samples.
struct RecordBatch: Sendable {
  /// Position of the batch in the whole run (results are consumed in this order).
  let sequence: Int
  /// Index of the source file.
  let source: Int
  /// The records.
  var records: [CorpusRecord] = []
  /// UTF-8 bytes of their text.
  var bytes = 0

  mutating func add(_ record: CorpusRecord) {
    records.append(record)
    bytes += record.textBytes
  }
}

extension CorpusRecord {
  /// UTF-8 bytes of the record's text.
  var textBytes: Int {
    func bytes(_ conversation: Conversation) -> Int {
      conversation.messages.reduce(conversation.system?.utf8.count ?? 0) {
        $0 + $1.content.utf8.count
      }
    }
    switch self {
    case .document(let document): return document.text.utf8.count
    case .conversation(let conversation): return bytes(conversation)
    case .preference(let pair):
      return bytes(pair.prompt) + pair.chosen.utf8.count + pair.rejected.utf8.count
    }
  }
}

/// Where the reading side of a run is, for progress lines.
struct ReadPosition {
  /// The file being read.
  var file = ""
  /// Input bytes read so far, over all files (compressed size for `.zst`).
  var bytesRead = 0
}

/// Reads every record of `readers` in order, groups them into batches of about `batchBytes`
/// bytes, runs `transform` on the batches in child tasks (at most `tasksInFlight` at once) and
/// hands the results to `consume` strictly in input order, so the output does not depend on
/// scheduling. Memory stays bounded by `tasksInFlight` batches.
/// - Parameters:
///   - consume: called on the calling task with each batch's source index and result.
///   - sourceDone: called once each file is read to its end, with its statistics.
///   - position: called on the calling task after each consumed batch and at each new file.
func processInOrder<Output: Sendable>(
  _ readers: [CorpusReader], batchBytes: Int, tasksInFlight: Int,
  transform: @escaping @Sendable (RecordBatch) throws -> Output,
  consume: (_ source: Int, Output) throws -> Void,
  sourceDone: (_ source: Int, SourceStatistics) -> Void,
  position: (ReadPosition) -> Void
) async throws {
  precondition(
    batchBytes > 0 && tasksInFlight > 0,
    "processInOrder: batchBytes \(batchBytes), tasksInFlight \(tasksInFlight)")
  try await withThrowingTaskGroup(of: (Int, Int, Output).self) { group in
    var nextSequence = 0
    var inFlight = 0
    var pending: [Int: (Int, Output)] = [:]
    var nextToConsume = 0
    var current = ReadPosition()
    var readBefore = 0

    func accept(_ done: (Int, Int, Output)) throws {
      pending[done.0] = (done.1, done.2)
      while let (source, output) = pending.removeValue(forKey: nextToConsume) {
        try consume(source, output)
        nextToConsume += 1
      }
    }

    for (sourceIndex, reader) in readers.enumerated() {
      current.file = reader.path
      current.bytesRead = readBefore
      position(current)
      var batch = RecordBatch(sequence: nextSequence, source: sourceIndex)
      while true {
        let record = try reader.next()
        if let record { batch.add(record) }
        let full = batch.bytes >= batchBytes || batch.records.count >= 4096
        if full || (record == nil && !batch.records.isEmpty) {
          if inFlight >= tasksInFlight, let done = try await group.next() {
            inFlight -= 1
            try accept(done)
            current.bytesRead = readBefore + reader.progress.read
            position(current)
          }
          let ready = batch
          group.addTask { (ready.sequence, ready.source, try transform(ready)) }
          inFlight += 1
          nextSequence += 1
          batch = RecordBatch(sequence: nextSequence, source: sourceIndex)
        }
        if record == nil { break }
      }
      sourceDone(sourceIndex, reader.statistics)
      readBefore += reader.progress.total
    }
    while let done = try await group.next() {
      try accept(done)
      current.bytesRead = readBefore
      position(current)
    }
  }
}
