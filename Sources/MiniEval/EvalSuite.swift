import Foundation

/// Runs the tasks named on a command line: task YAML files, `ceval:DIR`, `cmmlu:DIR` or `mmlu:DIR`.
public enum EvalSuite {
  /// The tasks of one specification, under the name their group is reported as.
  /// - Throws: `EvalError` naming the file, key or row at fault.
  public static func tasks(for specification: String) throws -> (group: String, tasks: [EvalTask]) {
    if let (benchmark, directory) = BuiltinBenchmark.parse(specification) {
      return (benchmark.groupName, try benchmark.tasks(in: directory))
    }
    let task = try EvalTask(contentsOf: specification)
    return (task.config.task, [task])
  }

  /// Evaluates every task of `specifications` on `model`.
  /// - Parameters:
  ///   - settings: written under the report's `config` (the model path, the options).
  ///   - progress: called after each document with (task, done, total).
  public static func run(
    model: EvalModel, specifications: [String], options: EvalOptions,
    settings: [String: String] = [:], progress: (String, Int, Int) -> Void = { _, _, _ in }
  ) throws -> EvalReport {
    var groups: [GroupResult] = []
    for specification in specifications {
      let (name, tasks) = try tasks(for: specification)
      let results = try tasks.map { task in
        try Evaluator.run(task, model: model, options: options) { done, total in
          progress(task.config.task, done, total)
        }
      }
      groups.append(GroupResult(name: name, subtasks: results))
    }
    return EvalReport(groups: groups, settings: settings)
  }
}
