"""Sharing the cores (issue 11): a default run alone against the same run beside a second ganforge process.

    python bench/shared_cores.py                              # ganforge as it ships, beside a second `ganforge train`
    python bench/shared_cores.py --policies pinned,ganforge,passive --repeats 2 --json
    python bench/shared_cores.py --beside evaluate            # the second process: `ganforge evaluate` in a loop
    python bench/shared_cores.py --policies pinned,ganforge --alone-only --repeats 5   # what a policy costs alone

Each measurement is a real `ganforge train` (default preset, --subset images, --epochs epochs) in
a fresh process; its speed is read from its own metrics.jsonl: images of the epochs after the
first (warm-up) over their seconds (the batch loop's clock, so start-up and end-of-epoch writes
are left out). "alone" runs it on an otherwise idle machine; "beside" first starts the second
process, waits until that one has finished an epoch (or, for evaluate, has started), then runs the
measured one. Both processes get the policy's environment. The second process's own speed during
the overlap is reported too, so a policy cannot win by starving it.

Policies (the environment both processes start with; N = the cores usable here):

    pinned     OMP_NUM_THREADS=N: torch's default count, kept fixed, libgomp's default waiting
               (idle threads spin 300,000 rounds, then sleep): ganforge before issue 11
    ganforge   nothing set: `ganforge train` fits its threads to the free cores (cores.py)
    passive    OMP_WAIT_POLICY=PASSIVE (idle threads sleep at once), N threads
    spin10k    GOMP_SPINCOUNT=10000, N threads
    threads1   OMP_NUM_THREADS=1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import cpu_model  # noqa: E402

CORES = len(os.sched_getaffinity(0))
POLICIES = {
    "pinned": {"OMP_NUM_THREADS": str(CORES)}, "ganforge": {},
    "passive": {"OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": str(CORES)},
    "spin10k": {"GOMP_SPINCOUNT": "10000", "OMP_NUM_THREADS": str(CORES)}, "threads1": {"OMP_NUM_THREADS": "1"},
}
OMP_VARS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS", "OMP_DYNAMIC")


GANFORGE = [sys.executable, "-m", "ganforge"]


def environment(policy: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in OMP_VARS}
    return {**env, **POLICIES[policy]}


def train_args(args, out: Path, epochs: int) -> list[str]:
    return ["train", "--preset", args.preset, "--set", f"subset={args.subset}", "--epochs", str(epochs),
            "--seed", "0", "--set", "tensorboard=false", "--no-progress", "--out", str(out)]


def records(out: Path) -> list[dict]:
    path = out / "metrics.jsonl"
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    return [json.loads(line) for line in lines if line.endswith("}")]  # a half-written last line is left out


def speed(recs: list[dict], first: int) -> dict:
    """img/s and steps/s over the epoch records from index `first` on (first >= 1: the record
    before it gives the step count where they begin)."""
    timed = recs[first:]
    seconds = sum(r["epoch_seconds"] for r in timed)
    if not timed or not seconds:
        return {}
    images = sum(r["img_per_s"] * r["epoch_seconds"] for r in timed)
    steps = timed[-1]["step"] - recs[first - 1]["step"]
    return {"img_s": images / seconds, "steps_s": steps / seconds, "epochs": len(timed)}


class Beside:
    """The second ganforge process, kept running (restarted when it ends) until stop()."""

    def __init__(self, args, policy: str, tmp: Path, run_to_evaluate: Path | None):
        self.stopping, self.proc, self.out, self.trains = False, None, tmp / "beside", args.beside == "train"
        if self.trains:
            self.command = GANFORGE + train_args(args, self.out, 100000)
        else:
            self.command = GANFORGE + ["evaluate", str(run_to_evaluate), "--n", str(args.eval_n)]
        self.env, self.starts = environment(policy), 0
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stopping:
            self.proc = subprocess.Popen(self.command, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.starts += 1
            self.proc.wait()

    def wait_until_busy(self, timeout=600):
        """Training: until its first epoch is written (import and warm-up done); evaluate: 5 s after its start."""
        end = time.time() + timeout
        while time.time() < end:
            if self.trains and records(self.out):
                return
            if not self.trains and self.starts:
                time.sleep(5)
                return
            time.sleep(0.5)
        raise RuntimeError("the second process did not start")

    def stop(self):
        self.stopping = True
        if self.proc:
            self.proc.kill()
        self.thread.join(timeout=60)


def measure(args, policy: str, out: Path, beside: Beside | None) -> dict:
    seen = len(records(beside.out)) if beside else 0
    done = subprocess.run(GANFORGE + train_args(args, out, args.epochs), env=environment(policy),
                          capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{policy} failed:\n{done.stderr[-3000:]}")
    recs = records(out)
    result = {**speed(recs, 1), "step_path": recs[-1]["step_path"]}
    if beside and beside.trains:  # the second run's epochs that ran during this one; the first
        # of them may have begun before, so it is left out
        result["other_img_s"] = speed(records(beside.out), seen + 1).get("img_s")
    return result


def policy_row(args, policy: str, tmp: Path, rep: int) -> dict:
    alone_out = tmp / f"{policy}-alone-{rep}"
    alone = measure(args, policy, alone_out, None)
    row = {"policy": policy, "rep": rep, "alone_img_s": alone["img_s"], "alone_steps_s": alone["steps_s"],
           "step_path": alone["step_path"]}
    if args.alone_only:
        print(f"{policy:>9} #{rep + 1}: alone {row['alone_img_s']:7.1f} img/s ({row['alone_steps_s']:5.1f} steps/s)"
              f"   [{row['step_path']}]", flush=True)
        return row
    beside = Beside(args, policy, tmp / f"{policy}-b{rep}", alone_out)
    try:
        beside.wait_until_busy()
        shared = measure(args, policy, tmp / f"{policy}-beside-{rep}", beside)
    finally:
        beside.stop()
    row.update(beside_img_s=shared["img_s"], beside_steps_s=shared["steps_s"], kept=shared["img_s"] / alone["img_s"],
               other_img_s=shared.get("other_img_s"))
    other = f", the other process {row['other_img_s']:.0f} img/s" if row["other_img_s"] else ""
    print(f"{policy:>9} #{rep + 1}: alone {row['alone_img_s']:7.1f} img/s ({row['alone_steps_s']:5.1f} steps/s), "
          f"beside {args.beside} {row['beside_img_s']:7.1f} img/s ({row['beside_steps_s']:5.1f} steps/s): "
          f"keeps {row['kept']:.2f}{other}   [{row['step_path']}]", flush=True)
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--policies", default="ganforge", help="comma-separated, from: " + ", ".join(POLICIES))
    parser.add_argument("--beside", default="train", choices=["train", "evaluate"])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--subset", type=int, default=2048)
    parser.add_argument("--epochs", type=int, default=4, help="of the measured run; the first is left out")
    parser.add_argument("--eval-n", type=int, default=2000, help="samples of each `ganforge evaluate` beside")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--alone-only", action="store_true", help="only the runs alone (what a policy costs there)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    cores = CORES
    print(f"cpu: {cpu_model()} ({cores} cores usable), preset {args.preset}, {args.subset} images, "
          f"{args.epochs} epochs (first left out), beside: ganforge {args.beside}; load {os.getloadavg()[0]:.2f}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeats):  # policies interleaved, so a slow spell of the machine hits them alike
            rows += [policy_row(args, policy, Path(tmp), rep) for policy in args.policies.split(",")]
    summary = {}
    for policy in args.policies.split(","):
        mine = [r for r in rows if r["policy"] == policy]
        keys = ("alone_img_s",) if args.alone_only else ("alone_img_s", "beside_img_s", "kept")
        summary[policy] = {k: statistics.median(r[k] for r in mine) for k in keys}
        print(f"{policy:>9}: median " + ", ".join(f"{k} {v:.2f}" for k, v in summary[policy].items()))
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if args.json:
        print(json.dumps({"cpu": cpu_model(), "cores": cores, "preset": args.preset, "subset": args.subset,
                          "epochs": args.epochs, "beside": args.beside, "rows": rows, "summary": summary}))


if __name__ == "__main__":
    main()
