// Mocha reporter: mocha's "spec" output, then one closing line "N passed, N failed[, N skipped]" that CI reads.
'use strict';
const Mocha = require('mocha');

class SummaryReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    runner.on(Mocha.Runner.constants.EVENT_TEST_PASS, () => { passed += 1; });
    runner.on(Mocha.Runner.constants.EVENT_TEST_FAIL, () => { failed += 1; });
    runner.on(Mocha.Runner.constants.EVENT_TEST_PENDING, () => { skipped += 1; });
    runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
      // Spec prints its epilogue on the same event; print after it.
      setImmediate(() => process.stdout.write(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`));
    });
  }
}

module.exports = SummaryReporter;
