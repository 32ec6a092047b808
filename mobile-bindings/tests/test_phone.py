"""A phone played through the generated Python bindings against the real server.

Run by .ci/run after the bindings are generated:

    SOTAY_BINDINGS_DIR=dir-with-sotay_mobile.py-and-the-library \
    SOTAY_SERVER_BIN=target/debug/sotay-server SOTAY_CLI_BIN=target/debug/sotay \
    python3 mobile-bindings/tests/test_phone.py

It enrols a phone, creates 100 activities, edits some and syncs (timed); kills the server during
a sync and restarts it, and the sync finishes by itself; a second phone sees the merged state and
a conflict, resolves it, and the first phone sees it cleared; a revoked phone is wiped; progress
is reported; errors arrive as exceptions carrying a stable code.
"""

import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.environ["SOTAY_BINDINGS_DIR"])
import sotay_mobile as sm  # noqa: E402

SERVER = os.environ["SOTAY_SERVER_BIN"]
CLI = os.environ["SOTAY_CLI_BIN"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The real sotay-server on a fresh SQLite file, restartable on the same file and port."""

    def __init__(self, tmp):
        self.db = f"sqlite://{tmp}/sotay.db"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = None
        self.log = open(os.path.join(tmp, "server.log"), "ab")

    def admin(self, *args):
        out = subprocess.run([CLI, "admin", "--database-url", self.db, *args], check=True, capture_output=True, text=True)
        return out.stdout

    def start(self):
        env = dict(os.environ, SOTAY_DATABASE_URL=self.db, SOTAY_BIND=f"127.0.0.1:{self.port}", SOTAY_METRICS_BIND="127.0.0.1:0")
        self.proc = subprocess.Popen([SERVER], env=env, stdout=self.log, stderr=self.log)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the server did not start")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()


def activity(i):
    return [
        sm.FieldValue(field="unit", value="hlhpn"),
        sm.FieldValue(field="plan_item", value="II.7.1"),
        sm.FieldValue(field="activity_type", value="communication"),
        sm.FieldValue(field="format", value="club"),
        sm.FieldValue(field="topics", value="+gbv_family"),
        sm.FieldValue(field="held_on", value="2026-11-18"),
        sm.FieldValue(field="location", value=f"Nhà văn hóa thôn Đông {i}"),
        sm.FieldValue(field="attendance_female", value=str(10 + i % 7)),
        sm.FieldValue(field="attendance_male", value=str(3 + i % 5)),
    ]


def everything(phone, **kw):
    return phone.list(sm.RecordFilter(kind=kw.get("kind"), review_state=None, from_date=None, to_date=None,
                                      conflicted_only=kw.get("conflicted_only", False), include_deleted=False,
                                      offset=0, limit=10_000))


class Progress(sm.SyncListener):
    def __init__(self):
        self.seen = []

    def on_progress(self, progress):
        self.seen.append(progress)


class PhoneAgainstTheServer(unittest.TestCase):
    def test_a_village_day(self):
        tmp = tempfile.mkdtemp(prefix="sotay-phone-")
        server = Server(tmp)
        out = server.admin("quickstart")
        codes = [line.split(": ")[1] for line in out.splitlines() if line.startswith("enrolment code")]
        self.assertEqual(len(codes), 2, out)
        server.start()
        try:
            self.day(tmp, server, codes)
        finally:
            server.stop()

    def day(self, tmp, server, codes):
        # The phone key comes from the Keystore/Keychain on a phone; here, fixed bytes.
        config = sm.PhoneConfig(lang="vi", allow_plain_http=False, max_attempts=0, key=bytes(range(32)),
                                gbv_lock_after_days=None)
        one = sm.Phone.open(os.path.join(tmp, "phone1.db"), config)
        self.assertFalse(one.is_enrolled())

        # A wrong code: an exception with a stable code and a Vietnamese sentence.
        with self.assertRaises(sm.SotayError.Account) as wrong:
            one.enrol(server.base, "0000-0000-0000", "Điện thoại 1")
        self.assertEqual(wrong.exception.code, "unauthorized")
        status = one.enrol(server.base, codes[0], "Điện thoại 1")
        self.assertTrue(status.enrolled)

        # A value that cannot be read is refused per field, in Vietnamese; nothing is saved.
        with self.assertRaises(sm.SotayError.Invalid) as invalid:
            one.create(sm.Kind.ACTIVITY, [sm.FieldValue(field="attendance_female", value="mười")])
        self.assertEqual(invalid.exception.code, "invalid")
        self.assertEqual(invalid.exception.fields[0].field, "attendance_female")
        self.assertIn("Số người tham dự nữ", invalid.exception.fields[0].message)
        # A draft missing what submission needs: its problems per field.
        draft = one.create(sm.Kind.ACTIVITY, [sm.FieldValue(field="unit", value="hlhpn")])
        self.assertTrue(any(p.field == "held_on" for p in one.problems(draft)))
        with self.assertRaises(sm.SotayError.Invalid):
            one.submit(draft)
        one.delete(draft)

        ids = [one.create(sm.Kind.ACTIVITY, activity(i)) for i in range(100)]
        for rid in ids[:10]:
            self.assertTrue(one.edit(rid, [sm.FieldValue(field="attendance_male", value="9")]))
        one.submit(ids[0])
        progress = Progress()
        started = time.perf_counter()
        result = one.sync(progress)
        elapsed = time.perf_counter() - started
        print(f"one sync of 100 new records (+10 edits, 1 submission) through the bindings: {elapsed * 1000:.0f} ms, "
              f"{result.bytes_sent} B up, {result.round_trips} round trip(s)")
        self.assertEqual(result.changes_sent, 113)
        self.assertTrue(progress.seen and progress.seen[-1].changes_pending == 0)
        self.assertEqual(one.status().unsent_changes, 0)
        self.assertIsNotNone(one.status().last_sync_ms)

        # The server is killed during a sync, after its first round, and restarted: the sync
        # finishes by itself. Long notes make the 50 new records take several pushes.
        def long_note(i):
            words = ["chị", "em", "thôn", "họp", "bạo", "lực", "gia", "đình", "hỗ", "trợ", "tư", "vấn"]
            rng = random.Random(i)
            return " ".join(rng.choice(words) for _ in range(900))

        more = [one.create(sm.Kind.ACTIVITY, activity(i) + [sm.FieldValue(field="notes", value=long_note(i))])
                for i in range(100, 150)]
        results = {}
        killed, retried = threading.Event(), threading.Event()

        class Watch(sm.SyncListener):
            def on_progress(self, p):
                if p.retrying_in_ms > 0:
                    retried.set()
                elif p.changes_sent > 0 and p.changes_pending > 0 and not killed.is_set():
                    server.kill()  # between two pushes of this sync
                    killed.set()

        syncing = threading.Thread(target=lambda: results.update(r=one.sync(Watch())))
        syncing.start()
        self.assertTrue(killed.wait(60), "the sync pushes in several rounds")
        self.assertTrue(retried.wait(30), "the phone retries by itself")
        server.start()
        syncing.join(120)
        self.assertFalse(syncing.is_alive())
        self.assertEqual(results["r"].changes_sent, 50)
        self.assertGreaterEqual(results["r"].retries, 1)
        self.assertEqual(one.status().unsent_changes, 0)

        # A second phone of the same collaborator is provisioned with everything.
        two = sm.Phone.open(os.path.join(tmp, "phone2.db"), config)
        two.enrol(server.base, codes[1], "Điện thoại 2")
        two.sync(None)
        self.assertEqual(len(everything(two)), 150)  # the deleted draft is not listed
        # Concurrent edits of one field on both phones: a conflict, shown with who and when.
        target = more[0]
        one.edit(target, [sm.FieldValue(field="attendance_female", value="21")])
        two.edit(target, [sm.FieldValue(field="attendance_female", value="22")])
        one.sync(None)
        two.sync(None)
        detail = two.record(target)
        self.assertEqual(len(detail.conflicts), 1)
        conflict = detail.conflicts[0]
        self.assertEqual(conflict.field, "attendance_female")
        self.assertEqual(sorted(c.value for c in conflict.choices), ["21", "22"])
        self.assertTrue(all(c.device for c in conflict.choices))
        self.assertEqual([r.id for r in everything(two, conflicted_only=True)], [target])
        choice = [c.value for c in conflict.choices].index("22")
        two.resolve(target, "attendance_female", choice)
        two.sync(None)
        one.sync(None)
        cleared = one.record(target)
        self.assertEqual(cleared.conflicts, [])
        self.assertEqual([f.value for f in cleared.fields if f.field == "attendance_female"], ["22"])
        self.assertTrue(any("Số người tham dự nữ" in c for h in cleared.history for c in h.changes))

        # A revoked phone: its GBV referrals are wiped, it stops syncing, and says so.
        case = one.create(sm.Kind.GBV_REFERRAL, [sm.FieldValue(field="case_code", value="TY-2026-001"),
                                                 sm.FieldValue(field="unit", value="hlhpn")])
        one.sync(None)
        self.assertEqual(len(everything(one, kind=sm.Kind.GBV_REFERRAL)), 1)
        # Opened with another key (or none), the case is locked and activities still show.
        for key in [bytes(32), None]:
            other = sm.Phone.open(os.path.join(tmp, "phone1.db"),
                                  sm.PhoneConfig(lang="vi", allow_plain_http=False, max_attempts=0, key=key,
                                                 gbv_lock_after_days=None))
            self.assertEqual(other.status().gbv_lock, "wrong_key" if key else "no_key")
            self.assertEqual(everything(other, kind=sm.Kind.GBV_REFERRAL), [])
            self.assertGreater(len(everything(other)), 100)
            with self.assertRaises(sm.SotayError.Account) as locked:
                other.record(case)
            self.assertEqual(locked.exception.code, "locked")
            # The device secret is sealed under the key too: no sync without it, and it says so.
            with self.assertRaises(sm.SotayError.Account) as no_key:
                other.sync(None)
            self.assertEqual(no_key.exception.code, "key_needed")
            self.assertIn("an toàn", no_key.exception.reason)
        with self.assertRaises(sm.SotayError.Refused) as bad_key:
            sm.Phone.open(os.path.join(tmp, "phone1.db"),
                          sm.PhoneConfig(lang="vi", allow_plain_http=False, max_attempts=0, key=b"short",
                                         gbv_lock_after_days=None))
        self.assertEqual(bad_key.exception.code, "bad_key")
        self.assertIsNone(one.status().gbv_lock)
        # A change the server refuses (a collaborator may not close a case): the record goes back
        # to what the server holds, and the change is kept aside, explained in Vietnamese.
        one.edit(case, [sm.FieldValue(field="case_status", value="closed"),
                        sm.FieldValue(field="notes", value="đã gọi điện")])
        self.assertEqual(one.sync(None).refused, 1)
        fields = {f.field: f.value for f in one.record(case).fields}
        self.assertEqual((fields["case_status"], fields["notes"]), ("", ""), "as the server holds it")
        refused = one.refused_changes()
        self.assertEqual([r.record_id for r in refused], [case])
        self.assertIn("Máy chủ không nhận", refused[0].message)
        self.assertEqual(one.status().refused_changes, 1)
        # Re-submitted, the server decides again; discarded, it is gone.
        self.assertEqual(one.resubmit_refused(refused[0].id), case)
        self.assertEqual(one.sync(None).refused, 1)
        again_refused = one.refused_changes()
        self.assertEqual(len(again_refused), 1)
        self.assertFalse(one.discard_refused(refused[0].id), "the re-submitted one is already gone")
        with self.assertRaises(sm.SotayError.Refused) as gone:
            one.resubmit_refused(refused[0].id)
        self.assertEqual(gone.exception.code, "not_found")
        self.assertTrue(one.discard_refused(again_refused[0].id))
        self.assertEqual(one.refused_changes(), [])
        server.admin("revoke", one.status().device_id)
        with self.assertRaises(sm.SotayError.Account) as revoked:
            # A new phone object: no cached token, as after an app restart.
            again = sm.Phone.open(os.path.join(tmp, "phone1.db"), config)
            again.sync(None)
        self.assertEqual(revoked.exception.code, "revoked")
        self.assertIn("thu hồi", revoked.exception.reason)
        self.assertEqual(everything(again, kind=sm.Kind.GBV_REFERRAL), [])
        self.assertTrue(again.status().revoked)
        with self.assertRaises(sm.SotayError.Refused):
            again.record(case)
        again.wipe()
        self.assertFalse(again.is_enrolled())
        self.assertEqual(again.status().records, 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
