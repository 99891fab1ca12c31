"""The chime reaches a real sound server: PulseAudio with a null sink, recorded from its monitor.

The sound goes through the app's own path (``ui.sound.SoundPlayer`` → QSoundEffect → PulseAudio)
in a child process, because Qt picks its audio backend once per process. The recording of the
null sink's monitor is what "the speakers" received.
"""

from __future__ import annotations

import array
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

needs_pulseaudio = pytest.mark.skipif(
    not (shutil.which("pulseaudio") and shutil.which("parecord") and shutil.which("pactl")),
    reason="PulseAudio is not installed (make test installs it: scripts/system-deps.sh test)",
)

PLAY = textwrap.dedent("""
    import sys
    from datetime import datetime, timezone
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtMultimedia import QSoundEffect
    from agent.config import Alerts
    from agent.model import Alert
    from ui.sound import SoundPlayer

    app = QGuiApplication([])
    settings = QSettings(sys.argv[1], QSettings.Format.IniFormat)
    player = SoundPlayer(settings, Alerts(sound=sys.argv[2]))
    now = datetime.now(timezone.utc)
    alerts = (Alert("new", now, "k", "Demo", "1", "Invoice wrong", "Billing"),)

    def play():
        effect = player.effects["chime"]
        if effect.status() == QSoundEffect.Status.Loading:
            QTimer.singleShot(50, play)
            return
        print("played:", player.play_for(alerts, now), "| problem:", player.problem, flush=True)
        QTimer.singleShot(1500, app.quit)

    QTimer.singleShot(0, play)
    app.exec()
""")


def peak(path: Path) -> float:
    """The loudest sample of a 16-bit WAV, as a fraction of full scale."""
    with wave.open(str(path), "rb") as w:
        samples = array.array("h", w.readframes(w.getnframes()))
    return max((abs(s) for s in samples), default=0) / 32768


@pytest.fixture
def sound_server(tmp_path: Path) -> Iterator[dict[str, str]]:
    run = tmp_path / "pulse"
    run.mkdir()
    socket = run / "native"
    (run / "default.pa").write_text(
        f"load-module module-native-protocol-unix auth-anonymous=1 socket={socket}\n"
        "load-module module-null-sink sink_name=speaker rate=48000 channels=2\n"
        "set-default-sink speaker\n",
        encoding="utf-8",
    )
    env = dict(
        os.environ, PULSE_RUNTIME_PATH=str(run), PULSE_STATE_PATH=str(run), HOME=str(tmp_path)
    )
    env.pop("PULSE_SERVER", None)
    server = subprocess.Popen(
        [
            "pulseaudio",
            "-n",
            "-F",
            str(run / "default.pa"),
            "--daemonize=no",
            "--exit-idle-time=-1",
            "--use-pid-file=no",
            "--log-target=stderr",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    client_env = dict(env, PULSE_SERVER=f"unix:{socket}")
    try:
        deadline = time.monotonic() + 10
        while subprocess.run(["pactl", "info"], env=client_env, capture_output=True).returncode:
            if time.monotonic() > deadline or server.poll() is not None:
                pytest.fail(f"PulseAudio did not start: {server.stderr.read().decode()[-500:]}")
            time.sleep(0.1)
        yield client_env
    finally:
        server.terminate()
        try:
            server.wait(5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if server.stderr is not None:
            server.stderr.close()


def record_while_playing(env: dict[str, str], tmp_path: Path, sound: str) -> tuple[str, float]:
    recording = tmp_path / f"heard-{sound}.wav"
    keepalive = subprocess.Popen(
        [
            "pacat",
            "--playback",
            "--raw",
            "--format=s16le",
            "--rate=48000",
            "--channels=2",
            "/dev/zero",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    recorder = subprocess.Popen(
        [
            "parecord",
            "--device=speaker.monitor",
            "--file-format=wav",
            "--format=s16le",
            "--rate=48000",
            "--channels=2",
            str(recording),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)
        app_env = dict(env, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen")
        app_env.pop("QT_LOGGING_RULES", None)
        played = subprocess.run(
            [sys.executable, "-c", PLAY, str(tmp_path / "ui.ini"), sound],
            env=app_env,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
        assert played.returncode == 0, played.stderr[-2000:]
        time.sleep(0.3)
    finally:
        recorder.send_signal(signal.SIGINT)
        recorder.wait(10)
        keepalive.terminate()
        keepalive.wait(10)
    return played.stdout.strip(), peak(recording)


@needs_pulseaudio
def test_the_chime_is_heard_through_a_sound_server(sound_server, tmp_path):
    said, loudest = record_while_playing(sound_server, tmp_path, "chime")
    assert said == "played: chime | problem:", said  # played, and an audio device was found
    assert loudest > 0.1, f"the recording is silent (peak {loudest:.3f})"


@needs_pulseaudio
def test_sound_off_is_silence_at_the_speaker(sound_server, tmp_path):
    said, loudest = record_while_playing(sound_server, tmp_path, "off")
    assert said.startswith("played: None")
    assert loudest < 0.01
