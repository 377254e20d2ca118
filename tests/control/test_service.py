#!/usr/bin/env python3
"""ctgate under systemd's service protocol (sd_notify, drivers-config/ctgate.service):
`Type=notify` readiness, the watchdog, and the stop, with this test as the service manager.

The test binds the datagram socket systemd would (NOTIFY_SOCKET) and starts ctgate on two
net_null ports with WATCHDOG_USEC set, as systemd does for `WatchdogSec=`. It expects:
- READY=1 (with a STATUS= line) once the workers run;
- WATCHDOG=1 pings while they make progress;
- a worker stalled by fault injection for 3 s: ctgate logs that it stops pinging, and pings
  again once the worker polls;
- STOPPING=1 on SIGINT, and a clean exit.
No timing is asserted: every wait is bounded, and the stall is detected from the log.

Run (root):  python3 tests/control/test_service.py [-v]
"""

import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import ctgate_test as ct  # noqa: E402

WATCHDOG_USEC = 400000  # pings every 200 ms
WAIT = 60               # seconds at most for any one message


@unittest.skipIf(not ct.is_root() or ct.missing_binary_reason() is not None,
                 "needs root and a built ctgate")
class ServiceTest(unittest.TestCase):
    def setUp(self):
        self.tmp = ct.TempDir("svc")
        self.prefix = ct.file_prefix("svc")
        self.sock_path = self.tmp.file("notify.sock")
        self.notify = ct.NotifySocket(self.sock_path)
        self.addCleanup(self.notify.close)
        cfg = ct.make_config(self.prefix, [
            {"name": "lan", "devargs": "net_null0", "address": "10.0.1.1/24"},
            {"name": "wan", "devargs": "net_null1", "address": "10.0.2.1/24"}])
        cfg["fault_injection"] = True
        self.cfg_path = ct.write_config(self.tmp.file("svc.yaml"), cfg)

    def test_ready_watchdog_and_stop(self):
        env = dict(os.environ, NOTIFY_SOCKET=self.sock_path, WATCHDOG_USEC=str(WATCHDOG_USEC))
        d = ct.Daemon(self.cfg_path, self.tmp.file("ctgate.log"), prefix=self.prefix, env=env)
        self.addCleanup(d.stop)
        ready = self.notify.next("READY=1", time.monotonic() + WAIT)
        self.assertIsNotNone(ready, "no READY=1:\n" + d.log()[-2000:])
        self.assertIn("STATUS=forwarding, 1 worker(s)", ready)
        self.assertTrue(d.wait_for_log(r"systemd watchdog: every 400 ms", WAIT), d.log()[-2000:])
        for i in range(3):
            self.assertIsNotNone(self.notify.next("WATCHDOG=1", time.monotonic() + WAIT),
                                 "watchdog ping %d missing:\n%s" % (i, d.log()[-2000:]))
        # A worker that stops polling: ctgate stops pinging (and says so), then pings again.
        stall = ct.run_ctl(self.prefix, "raw", "/ctgate/fault/stall_worker,0 3000", timeout=30)
        self.assertEqual(stall.returncode, 0, stall.stderr.decode(errors="replace"))
        self.assertTrue(d.wait_for_log(r"watchdog: worker 0 made no progress", WAIT),
                        "the stall was not noticed:\n" + d.log()[-2000:])
        self.assertTrue(d.wait_for_log(r"watchdog: every worker is making progress again", WAIT),
                        d.log()[-2000:])
        self.assertIsNotNone(self.notify.next("WATCHDOG=1", time.monotonic() + WAIT),
                             "no ping after the stall:\n" + d.log()[-2000:])
        rc = d.stop()
        self.assertIsNotNone(self.notify.next("STOPPING=1", time.monotonic() + 5),
                             "no STOPPING=1:\n" + d.log()[-2000:])
        self.assertEqual(rc, 0, d.log()[-2000:])

    def test_outside_systemd_nothing_is_sent(self):
        env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
        d = ct.Daemon(self.cfg_path, self.tmp.file("ctgate.log"), prefix=self.prefix, env=env)
        self.addCleanup(d.stop)
        self.assertTrue(d.wait_for_log(r"ctgate running", WAIT), d.log()[-2000:])
        self.assertNotIn("systemd watchdog", d.log())
        self.assertEqual(d.stop(), 0, d.log()[-2000:])


if __name__ == "__main__":
    unittest.main(verbosity=2)
