extension Kernels {
  /// Causal scaled dot-product attention with grouped-query heads (GQA), the fused op behind a
  /// Llama attention layer: `softmax(Q·Kᵀ·scale + mask)·V` per batch element and query head.
  ///
  /// Query head `h` reads key/value head `h / (queryHeads / kvHeads)`. Keys and values may be longer
  /// than the queries (a prefix already in a cache): query `t` has absolute position
  /// `kvLength − sequence + t` and attends to keys `0…` that position.
  ///
  /// Each (batch, head) pair runs `sgemm` straight on the strided `[sequence, heads, headDim]`
  /// layout (leading dimension `heads·headDim`, no transposed copy), in blocks of 64 query rows
  /// that multiply only the keys the block can see.
  /// When there are at least as many pairs as threads, the pairs are split over the threads and
  /// OpenBLAS is limited to one thread for the duration (the setting is process-wide and is
  /// restored to `threadCount()` afterwards); otherwise the pairs run in turn and each GEMM uses
  /// OpenBLAS's threads. Either way no more than `threadCount()` threads compute at once.
  /// - Parameters:
  ///   - q: `[batch, sequence, queryHeads, headDim]`.
  ///   - k, v: `[batch, kvLength, kvHeads, headDim]`.
  ///   - output: `[batch, sequence, queryHeads, headDim]`.
  ///   - probs: `[batch, queryHeads, sequence, kvLength]`, receives the attention probabilities
  ///     (zeros above the causal diagonal), saved for the backward pass.
  ///   - kvLength: key/value positions (default `sequence`); at least `sequence`.
  ///   - scale: score scale, default `1 / sqrt(headDim)`.
  package static func attentionForward(
    q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
    output: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>,
    batch: Int, sequence: Int, queryHeads: Int, kvHeads: Int, headDim: Int, kvLength: Int? = nil,
    scale: Float? = nil
  ) {
    let shape = AttentionShape(
      batch: batch, sequence: sequence, queryHeads: queryHeads, kvHeads: kvHeads, headDim: headDim,
      kvLength: kvLength ?? sequence, kvBatchStride: nil, scale: scale, name: "attentionForward")
    attentionForward(q: q, k: k, v: v, output: output, probs: probs, shape: shape)
  }

  /// Attention backward: given `dOut`, the forward inputs and the saved `probs`, writes
  /// `dq`, `dk`, `dv` (all overwritten).
  ///
  /// Work is split over (batch, key/value head) pairs, so the gradients of a key/value head,
  /// summed over the query heads that share it, are written by one thread (no race, and the
  /// summation order is fixed). Threading as in `attentionForward`; each thread allocates one
  /// `[sequence, kvLength]` scratch matrix.
  /// - Parameters:
  ///   - dOut: `[batch, sequence, queryHeads, headDim]`.
  ///   - q, k, v, probs: as in `attentionForward`.
  ///   - dq: `[batch, sequence, queryHeads, headDim]`, overwritten.
  ///   - dk, dv: `[batch, kvLength, kvHeads, headDim]`, overwritten.
  package static func attentionBackward(
    dOut: UnsafePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>,
    v: UnsafePointer<Float>, probs: UnsafePointer<Float>, dq: UnsafeMutablePointer<Float>,
    dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
    batch: Int, sequence: Int, queryHeads: Int, kvHeads: Int, headDim: Int, kvLength: Int? = nil,
    scale: Float? = nil
  ) {
    let s = AttentionShape(
      batch: batch, sequence: sequence, queryHeads: queryHeads, kvHeads: kvHeads, headDim: headDim,
      kvLength: kvLength ?? sequence, kvBatchStride: nil, scale: scale, name: "attentionBackward")
    let (T, S, D) = (s.sequence, s.kvLength, s.headDim)
    let pairs = s.batch * s.kvHeads
    if pairs == 0 || T == 0 { return }
    runPairs(pairs, work: pairs * s.group * T * S * D) { range in
      let scratchBytes = T * S * MemoryLayout<Float>.stride
      let dScores = BufferCache.shared.allocate(bytes: scratchBytes)
        .bindMemory(to: Float.self, capacity: T * S)
      defer { BufferCache.shared.release(UnsafeMutableRawPointer(dScores), bytes: scratchBytes) }
      for pair in range {
        let b = pair / s.kvHeads
        let g = pair % s.kvHeads
        let kbg = k + s.kvOffset(b, g)
        let vbg = v + s.kvOffset(b, g)
        let dkbg = dk + s.kvOffset(b, g)
        let dvbg = dv + s.kvOffset(b, g)
        for j in 0..<s.group {
          let h = g * s.group + j
          let qbh = q + s.qOffset(b, h)
          let dObh = dOut + s.qOffset(b, h)
          let pbh = probs + s.probsOffset(b, h)
          let accumulate: Float = j == 0 ? 0 : 1
          // dV (+)= Pᵀ·dO  [S, D], by key block over the query rows that see it
          s.forEachKeyBlock { s0, keys, t1 in
            sgemm(
              transposeA: true, transposeB: false, m: keys, n: D, k: T - t1,
              a: pbh + t1 * S + s0, lda: S, b: dObh + t1 * s.qRowStride, ldb: s.qRowStride,
              beta: accumulate, c: dvbg + s0 * s.kvRowStride, ldc: s.kvRowStride)
          }
          s.forEachRowBlock { t0, rows, visible in
            let block = dScores + t0 * S
            // dP = dO·Vᵀ  [rows, visible]
            sgemm(
              transposeA: false, transposeB: true, m: rows, n: visible, k: D,
              a: dObh + t0 * s.qRowStride, lda: s.qRowStride, b: vbg, ldb: s.kvRowStride,
              c: block, ldc: S)
            // dScores = scale · P ⊙ (dP − Σ dP⊙P), zero above the diagonal.
            for t in t0..<(t0 + rows) {
              let valid = s.visibleKeys(t)
              let row = dScores + t * S
              softmaxBackwardRow(row, pbh + t * S, row, valid, scale: s.scale)
              (row + valid).update(repeating: 0, count: S - valid)
            }
            // dQ = dScores·K  [rows, D]
            sgemm(
              transposeA: false, transposeB: false, m: rows, n: D, k: visible, a: block, lda: S,
              b: kbg, ldb: s.kvRowStride, c: dq + s.qOffset(b, h) + t0 * s.qRowStride,
              ldc: s.qRowStride)
          }
          // dK (+)= dScoresᵀ·Q  [S, D], by key block as dV
          s.forEachKeyBlock { s0, keys, t1 in
            sgemm(
              transposeA: true, transposeB: false, m: keys, n: D, k: T - t1,
              a: dScores + t1 * S + s0, lda: S, b: qbh + t1 * s.qRowStride, ldb: s.qRowStride,
              beta: accumulate, c: dkbg + s0 * s.kvRowStride, ldc: s.kvRowStride)
          }
        }
      }
    }
  }

  /// Query rows per causal block of the attention GEMMs.
  static let attentionRowBlock = 64

  /// Keys per block of the backward's key-side GEMMs (dK, dV): larger than the query blocks,
  /// since these GEMMs are only `headDim` wide and smaller blocks lose more to packing than the
  /// masked rows they skip.
  static let attentionKeyBlock = 128

  /// Shapes, strides and offsets shared by the attention kernels.
  struct AttentionShape {
    let batch: Int
    let sequence: Int
    let queryHeads: Int
    let kvHeads: Int
    let headDim: Int
    let kvLength: Int
    /// Query heads per key/value head.
    let group: Int
    let qRowStride: Int
    let kvRowStride: Int
    let kvBatchStride: Int
    let scale: Float

    init(
      batch: Int, sequence: Int, queryHeads: Int, kvHeads: Int, headDim: Int, kvLength: Int,
      kvBatchStride: Int?, scale: Float?, name: String
    ) {
      precondition(
        batch >= 0 && sequence >= 0 && queryHeads > 0 && kvHeads > 0 && headDim > 0
          && queryHeads % kvHeads == 0 && kvLength >= sequence,
        "\(name): q [\(batch), \(sequence), \(queryHeads), \(headDim)], "
          + "k/v [\(batch), \(kvLength), \(kvHeads), \(headDim)] "
          + "(queryHeads must be a multiple of kvHeads, kvLength ≥ sequence)")
      self.batch = batch
      self.sequence = sequence
      self.queryHeads = queryHeads
      self.kvHeads = kvHeads
      self.headDim = headDim
      self.kvLength = kvLength
      group = queryHeads / kvHeads
      qRowStride = queryHeads * headDim
      kvRowStride = kvHeads * headDim
      self.kvBatchStride = kvBatchStride ?? kvLength * kvRowStride
      precondition(
        self.kvBatchStride >= kvLength * kvRowStride,
        "\(name): key/value batch stride \(self.kvBatchStride) < \(kvLength) × \(kvRowStride)")
      self.scale = scale ?? 1 / Float(headDim).squareRoot()
    }

    @inline(__always) func qOffset(_ b: Int, _ h: Int) -> Int {
      b * sequence * qRowStride + h * headDim
    }
    @inline(__always) func kvOffset(_ b: Int, _ g: Int) -> Int { b * kvBatchStride + g * headDim }
    @inline(__always) func probsOffset(_ b: Int, _ h: Int) -> Int {
      (b * queryHeads + h) * sequence * kvLength
    }
    /// Keys visible to query `t`: `0…kvLength − sequence + t`.
    @inline(__always) func visibleKeys(_ t: Int) -> Int { kvLength - sequence + t + 1 }

    /// Calls `body(firstRow, rows, visibleKeys)` for blocks of `attentionRowBlock` query rows;
    /// a block's GEMMs need only the keys its last row can see, which skips most of the masked
    /// triangle (about 3/8 of the work at 256 tokens) while keeping the GEMMs large.
    @inline(__always) func forEachRowBlock(_ body: (Int, Int, Int) -> Void) {
      var t0 = 0
      while t0 < sequence {
        let rows = Swift.min(attentionRowBlock, sequence - t0)
        body(t0, rows, visibleKeys(t0 + rows - 1))
        t0 += rows
      }
    }

    /// Calls `body(firstKey, keys, firstRow)` for blocks of `attentionKeyBlock` keys, where
    /// `firstRow` is the first query row that sees the block's first key: rows above it hold
    /// only zeros (masked) in that block's columns, so the key-side GEMMs of the backward skip
    /// them (about 3/8 of their work at 512 tokens).
    @inline(__always) func forEachKeyBlock(_ body: (Int, Int, Int) -> Void) {
      let past = kvLength - sequence
      var s0 = 0
      while s0 < kvLength {
        let keys = Swift.min(attentionKeyBlock, kvLength - s0)
        body(s0, keys, Swift.max(0, s0 - past))
        s0 += keys
      }
    }
  }

  /// The forward pass over any key/value batch stride (a cache holds `maxPositions` per batch
  /// element).
  static func attentionForward(
    q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
    output: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>, shape s: AttentionShape
  ) {
    let (T, S, D) = (s.sequence, s.kvLength, s.headDim)
    let pairs = s.batch * s.queryHeads
    if pairs == 0 || T == 0 { return }
    runPairs(pairs, work: pairs * T * S * D) { range in
      for pair in range {
        let b = pair / s.queryHeads
        let h = pair % s.queryHeads
        let g = h / s.group
        let pbh = probs + s.probsOffset(b, h)
        s.forEachRowBlock { t0, rows, visible in
          let block = pbh + t0 * S
          // Scores = scale · Q·Kᵀ  [rows, visible]
          sgemm(
            transposeA: false, transposeB: true, m: rows, n: visible, k: D, alpha: s.scale,
            a: q + s.qOffset(b, h) + t0 * s.qRowStride, lda: s.qRowStride,
            b: k + s.kvOffset(b, g), ldb: s.kvRowStride, c: block, ldc: S)
          for t in t0..<(t0 + rows) {
            let valid = s.visibleKeys(t)
            let row = pbh + t * S
            softmaxRow(row, row, valid)
            (row + valid).update(repeating: 0, count: S - valid)
          }
          // O = P·V  [rows, D]
          sgemm(
            transposeA: false, transposeB: false, m: rows, n: D, k: visible, a: block, lda: S,
            b: v + s.kvOffset(b, g), ldb: s.kvRowStride,
            c: output + s.qOffset(b, h) + t0 * s.qRowStride, ldc: s.qRowStride)
        }
      }
    }
  }

  /// Runs `body` over `0..<pairs`: split over threads with single-threaded OpenBLAS when there
  /// are enough pairs for every thread and enough work to pay for it, otherwise in turn on the
  /// calling thread with OpenBLAS's own threads.
  static func runPairs(_ pairs: Int, work: Int, _ body: (Range<Int>) -> Void) {
    let threads = threadCount()
    if threads > 1 && pairs >= threads && work >= 4 * parallelWork {
      // OpenBLAS's count is the process's: hold it at 1 for this region alone.
      OpenBLASGate.alone(threads: 1) {
        parallelFor(pairs, grain: 1) { range in OpenBLASGate.inside { body(range) } }
      }
    } else {
      body(0..<pairs)
    }
  }
}
