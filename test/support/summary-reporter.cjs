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
    this.summary = () => `${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`;
  }

  // Mocha calls done() after the run's end (Spec's epilogue printed) and before it exits, also with
  // `exit: true`, which would cut off anything left for a later tick.
  done(failures, fn) {
    process.stdout.write(this.summary(), () => fn(failures));
  }
}

module.exports = SummaryReporter;
