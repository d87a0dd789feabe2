"""Run unittest test modules as `python -m unittest` does, then print the
slowest tests and the time per test module, so that the suite's time can be
kept under the CI budget.  Python 3.11 has no `unittest --durations`.

    python scripts/run_tests.py MODULE...
"""
import os
import sys
import time
import unittest
from collections import defaultdict


class TimedResult(unittest.TextTestResult):
    durations = []
    # (module, end time of its last test): a module's span runs from the end
    # of the previous module, so it counts its class and module fixtures
    spans = []

    def startTest(self, test):
        self._started = time.monotonic()
        super().startTest(test)

    def stopTest(self, test):
        super().stopTest(test)
        now = time.monotonic()
        self.durations.append((now - self._started, test.id()))
        module = test.id().rsplit('.', 2)[0]
        if self.spans and self.spans[-1][0] == module:
            self.spans[-1] = (module, now)
        else:
            self.spans.append((module, now))


def main(names):
    # as `python -m unittest`: the test modules are imported from the
    # current directory (tests.test_api), not from this script's
    sys.path[0] = os.getcwd()
    suite = unittest.defaultTestLoader.loadTestsFromNames(names)
    runner = unittest.TextTestRunner(resultclass=TimedResult, verbosity=1)
    started = time.monotonic()
    result = runner.run(suite)
    durations = sorted(TimedResult.durations, reverse=True)
    per_module = defaultdict(float)
    previous = started
    for module, end in TimedResult.spans:
        per_module[module] += end - previous
        previous = end
    out = sys.stderr
    print('\nslowest tests:', file=out)
    for duration, name in durations[:25]:
        print(f'{duration:8.1f}s  {name}', file=out)
    print('wall time per test module (with its fixtures):', file=out)
    for name, duration in sorted(
            per_module.items(), key=lambda i: i[1], reverse=True)[:25]:
        print(f'{duration:8.1f}s  {name}', file=out)
    print(f'total wall time {time.monotonic() - started:.0f}s', file=out)
    return 0 if result.wasSuccessful() else 1


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
