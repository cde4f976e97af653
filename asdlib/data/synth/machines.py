"""Physically motivated sound models of the DCASE machine types, with named faults.

Each machine type is a :class:`Machine`: its attributes (the ``key_value`` pairs
of the file names, each with an ordered list of values), its faults (names a
mechanic would use) and a ``render`` function::

    render(rng, unit, attrs, fault, severity, n, sr) -> machine sound (n,)

``unit`` holds the fixed physical parameters of one machine (one per section, so
sections sound like different units of the same model: a housing resonance, a
speed offset, a harmonic profile); ``attrs`` the clip's operating conditions;
``fault`` is ``None`` for a normal clip, else a key of ``faults``; ``severity`` in
[0, 1] scales the fault. A normal clip has an RMS of about 1 before the factory
noise is added.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from asdlib.data.synth import signals as S


@dataclass(frozen=True)
class Unit:
    """Fixed parameters of one machine unit (one per section)."""

    pitch: float          # speed/size factor around 1
    res_hz: float         # housing / structure resonance (Hz)
    tilt: float           # how fast harmonic amplitudes fall with order
    profile: np.ndarray = field(repr=False)  # per-harmonic random gains (log-normal)


def make_unit(rng: np.random.Generator) -> Unit:
    return Unit(
        pitch=float(rng.uniform(0.88, 1.12)),
        res_hz=float(rng.uniform(1800, 4200)),
        tilt=float(rng.uniform(0.7, 1.3)),
        profile=rng.lognormal(0.0, 0.35, 512),
    )


@dataclass(frozen=True)
class Machine:
    name: str
    attributes: dict[str, tuple[str, ...]]
    faults: dict[str, str]
    render: Callable[..., np.ndarray]
    description: str = ""


def _series(unit: Unit, f0: float, sr: int, limit_hz: float = 7000.0) -> tuple[int, np.ndarray]:
    """Number of harmonics of ``f0`` below ``limit_hz`` and their base amplitudes."""
    k = max(1, min(len(unit.profile), int(limit_hz / f0)))
    orders = np.arange(1, k + 1)
    return k, unit.profile[:k] / orders**unit.tilt


def _mic(x: np.ndarray, sr: int, position: str) -> np.ndarray:
    """Microphone position 1..4: further away = quieter and duller."""
    d = float(position)
    return S.lowpass(x, sr, 7000.0 / d**0.6) / d**0.35


# --------------------------------------------------------------------------- fan
def _fan(rng, unit, attrs, fault, sev, n, sr):
    f_rot = float(attrs["spd"]) / 60.0 * unit.pitch
    blades = 7
    f = S.speed_profile(rng, n, sr, f_rot, wobble=0.004)
    ph = S.phase_of(f, sr, rng)
    k, amps = _series(unit, f_rot, sr)
    orders = np.arange(1, k + 1)
    amps = 0.15 * amps + 1.2 * (orders % blades == 0) * amps[::1] ** 0.3 / (orders / blades)
    if fault == "blade-damage":  # one chipped blade: every revolution sounds, not every blade pass
        amps = amps + sev * 0.9 * (orders % blades != 0) * (orders < 4 * blades) / orders**0.3
    tone = S.harmonics(ph, amps, rng)
    airflow = {"lo": 0.5, "mid": 0.8, "hi": 1.1}[attrs["wind"]]
    air = airflow * S.band_noise(rng, n, sr, 150, 6000) * (1 + 0.3 * np.sin(2 * np.pi * blades * ph))
    x = tone / S.rms(tone) + air
    if fault == "imbalance":  # once-per-revolution force: strong 1x and a throb
        x = x * (1 + 0.9 * sev * np.sin(2 * np.pi * ph)) + 3.0 * sev * S.harmonics(ph, np.array([1.0, 0.7, 0.4]), rng)
    if fault == "clogging":  # clogged filter: the air path narrows, a whistle appears
        x = x + 1.2 * sev * S.band_noise(rng, n, sr, 0.9 * unit.res_hz, 1.1 * unit.res_hz)
    return _mic(x, sr, attrs["mic"])


# -------------------------------------------------------------------------- pump
def _pump(rng, unit, attrs, fault, sev, n, sr):
    f_rot = float(attrs["spd"]) / 60.0 * unit.pitch
    vanes = 5
    f = S.speed_profile(rng, n, sr, f_rot, wobble=0.006)
    ph = S.phase_of(f, sr, rng)
    k, amps = _series(unit, f_rot, sr, 4000)
    orders = np.arange(1, k + 1)
    amps = 0.3 * amps + (orders % vanes == 0) / (orders / vanes)
    tone = S.harmonics(ph, amps, rng)
    flow = {"lo": 0.5, "mid": 0.8, "hi": 1.1}[attrs["flow"]] * S.band_noise(rng, n, sr, 80, 3000)
    x = tone / S.rms(tone) + flow
    dur = n / sr
    if fault == "cavitation":  # collapsing vapour bubbles: random sharp crackle
        kernel = S.resonance_kernel(sr, 5200, 0.0006)
        t = S.poisson_times(rng, dur, 300 * sev + 20)
        x = x + 3.0 * sev * S.impulse_train(n, sr, t, rng.uniform(0.3, 1.0, len(t)), kernel) * 8
    if fault == "leakage":  # a seal leaks: high-pitched hiss
        x = x + 1.3 * sev * S.band_noise(rng, n, sr, 3000, 7000)
    if fault == "clogging":  # partly blocked inlet: vane-pass tone surges irregularly
        surge = S.speed_profile(rng, n, sr, 1.0, wobble=0.6 * sev, wobble_hz=2.0)
        x = x + 1.2 * sev * tone / S.rms(tone) * (surge - 1.0) * 3
    return _mic(x, sr, attrs["mic"])


# ----------------------------------------------------------------------- bearing
def _bearing(rng, unit, attrs, fault, sev, n, sr):
    f_shaft = float(attrs["vel"]) * unit.pitch
    balls = 9
    f = S.speed_profile(rng, n, sr, f_shaft, wobble=0.005)
    ph = S.phase_of(f, sr, rng)
    k, amps = _series(unit, f_shaft, sr, 1500)
    shaft = S.harmonics(ph, amps, rng)
    load = {"lo": 0.6, "mid": 0.9, "hi": 1.2}[attrs["load"]]
    rolling = load * S.band_noise(rng, n, sr, 800, 5000) * (1 + 0.2 * np.sin(2 * np.pi * ph))
    x = 0.5 * shaft / S.rms(shaft) + rolling
    dur = n / sr
    kernel = S.resonance_kernel(sr, unit.res_hz, 0.002)
    if fault == "outer-race":  # a spall on the outer race: impacts at BPFO, constant strength
        bpfo = 0.4 * balls * f_shaft
        t = S.periodic_times(rng, dur, 1 / bpfo, jitter=0.01)
        x = x + 14 * sev * S.impulse_train(n, sr, t, 1.0, kernel)
    if fault == "inner-race":  # a spall on the inner race: impacts at BPFI, swept through the load zone
        bpfi = 0.6 * balls * f_shaft
        t = S.periodic_times(rng, dur, 1 / bpfi, jitter=0.01)
        zone = 0.5 * (1 + np.cos(2 * np.pi * f_shaft * t))
        x = x + 16 * sev * S.impulse_train(n, sr, t, zone, kernel)
    if fault == "ball":  # a damaged ball: impacts at twice the ball spin frequency, cage-modulated
        bsf = 2 * 0.2 * balls * f_shaft
        t = S.periodic_times(rng, dur, 1 / bsf, jitter=0.02)
        cage = 0.5 * (1 + np.cos(2 * np.pi * 0.4 * f_shaft * t))
        x = x + 22 * sev * S.impulse_train(n, sr, t, cage, kernel)
    return _mic(x, sr, attrs["mic"])


# ----------------------------------------------------------------------- gearbox
def _gearbox(rng, unit, attrs, fault, sev, n, sr):
    f_shaft = 8.0 * float(attrs["volt"]) * unit.pitch
    teeth = 23
    f = S.speed_profile(rng, n, sr, f_shaft, wobble=0.005)
    ph = S.phase_of(f, sr, rng)
    k, amps = _series(unit, f_shaft, sr)
    orders = np.arange(1, k + 1)
    mesh = np.zeros(k)
    for m in (1, 2, 3):  # gear-mesh harmonics with small sidebands at +-1x shaft
        for sb, g in ((0, 1.0), (-1, 0.15), (1, 0.15)):
            mesh += g / m * (orders == m * teeth + sb)
    load = 1 + float(attrs["wt"]) / 60.0
    if fault == "wear":  # worn flanks: higher mesh harmonics grow, more friction noise
        mesh += sev * 1.2 * ((orders == 2 * teeth) + (orders == 3 * teeth))
    if fault == "tooth-crack":  # one cracked tooth: sidebands at +-1..3x shaft around the mesh
        for sb in (-3, -2, -1, 1, 2, 3):
            mesh += sev * 0.7 / abs(sb) * (orders == teeth + sb)
    tone = S.harmonics(ph, 0.05 * amps + load * mesh, rng)
    x = tone / S.rms(tone) * load**0.5 + 0.5 * S.coloured_noise(rng, n, 1.0)
    if fault == "wear":
        x = x + sev * 1.0 * S.band_noise(rng, n, sr, 1500, 6000)
    if fault == "tooth-crack":  # and an impact each time the cracked tooth meshes
        t = S.periodic_times(rng, n / sr, 1 / f_shaft, jitter=0.005)
        x = x + 10 * sev * S.impulse_train(n, sr, t, 1.0, S.resonance_kernel(sr, unit.res_hz, 0.003))
    return _mic(x, sr, attrs["mic"])


# ------------------------------------------------------------------------ slider
def _slider(rng, unit, attrs, fault, sev, n, sr):
    vel = float(attrs["vel"]) * unit.pitch          # mm/s
    accel = float(attrs["ac"])                       # m/s^2 scale: shorter ramps when larger
    stroke_mm, pause_s = 300.0, 0.25
    stroke_s = stroke_mm / vel
    dur = n / sr
    starts = np.arange(rng.uniform(0, stroke_s), dur, stroke_s + pause_s)
    ramp = 0.05 / accel * 0.03
    gate = S.envelope(n, sr, [(s, s + stroke_s, 1.0) for s in starts], ramp_s=ramp)
    f_motor = vel * 0.6                               # ball-screw motor speed, Hz
    f = S.speed_profile(rng, n, sr, f_motor, wobble=0.003) * (0.4 + 0.6 * gate)
    ph = S.phase_of(f, sr, rng)
    k, amps = _series(unit, f_motor, sr)
    whine = S.harmonics(ph, amps, rng)
    x = gate * (whine / S.rms(whine) + 0.6 * S.band_noise(rng, n, sr, 300, 5000))
    stops = np.concatenate([starts, starts + stroke_s])
    x = x + 2.5 * S.impulse_train(n, sr, stops, 1.0, S.resonance_kernel(sr, 0.6 * unit.res_hz, 0.008))
    if fault == "no-grease":  # dry rail: stick-slip squeal in bursts while moving
        chirp_f = S.speed_profile(rng, n, sr, 1.3 * unit.res_hz, wobble=0.05, wobble_hz=3)
        bursts = (S.speed_profile(rng, n, sr, 1.0, wobble=1.0, wobble_hz=4) > 1.0).astype(float)
        x = x + 8.0 * sev * gate * bursts * np.sin(2 * np.pi * S.phase_of(chirp_f, sr, rng))
    if fault == "rail-damage":  # a dent mid-rail: an impact in the middle of every stroke
        hits = starts + stroke_s * rng.uniform(0.45, 0.55)
        hits = np.concatenate([hits, hits + 0.012, hits + 0.024])  # each carriage ball rolls over it
        x = x + 60 * sev * S.impulse_train(n, sr, hits, 1.0, S.resonance_kernel(sr, unit.res_hz, 0.01))
    if fault == "loose-belt":  # a slack belt: the whine wobbles and the belt slaps
        wob = S.speed_profile(rng, n, sr, 1.0, wobble=0.08 * sev, wobble_hz=6)
        x = x + 10.0 * sev * gate * whine / S.rms(whine) * (wob - 1) * 10
    return _mic(x, sr, attrs["mic"])


# ------------------------------------------------------------------------- valve
_VALVE_PATTERNS = {  # (open_s, closed_s) cycles of the four control programs
    "00": (0.5, 0.5), "01": (0.3, 0.7), "02": (0.8, 0.4), "03": (0.25, 0.25),
}


def _valve(rng, unit, attrs, fault, sev, n, sr):
    open_s, closed_s = _VALVE_PATTERNS[attrs["pat"]]
    open_s, closed_s = open_s * unit.pitch, closed_s * unit.pitch
    dur = n / sr
    opens = np.arange(rng.uniform(0, open_s + closed_s), dur, open_s + closed_s)
    opens = opens + rng.normal(0, 0.01, len(opens))
    closes = opens + open_s
    if fault == "sticking":  # the plunger sticks: it opens late, sometimes twice
        opens = opens + sev * rng.uniform(0.02, 0.12, len(opens))
    gate = S.envelope(n, sr, [(o, c, 1.0) for o, c in zip(opens, closes)], ramp_s=0.01)
    flow = {"lo": 0.5, "hi": 0.9}[attrs["flow"]]
    hiss = flow * S.band_noise(rng, n, sr, 400, 4000)
    leak = 0.0
    if fault == "contamination":  # debris keeps the seat from sealing: flow goes on when closed
        leak = 0.7 * sev
    x = (gate + leak * (1 - gate)) * hiss
    if fault == "contamination":  # ... and whistles through the narrow gap
        x = x + 1.2 * sev * (1 - gate) * S.band_noise(rng, n, sr, 4000, 7000)
    click_open = S.resonance_kernel(sr, 0.5 * unit.res_hz, 0.006)
    click_close = S.resonance_kernel(sr, unit.res_hz, 0.004)
    close_amp = 1.0 - 0.7 * sev if fault == "contamination" else 1.0
    open_amp = 1.0 + 2.0 * sev if fault == "sticking" else 1.0  # a stuck plunger lets go with a bang
    x = x + 3.0 * S.impulse_train(n, sr, opens, open_amp, click_open)
    x = x + 3.0 * S.impulse_train(n, sr, closes, close_amp, click_close)
    if fault == "sticking":
        again = opens[rng.random(len(opens)) < sev] + rng.uniform(0.03, 0.08)
        x = x + 8.0 * S.impulse_train(n, sr, again, 1.0, click_open)
    if fault == "coil-chatter":  # a weak coil: the armature chatters while energised
        t = S.poisson_times(rng, dur, 80 * sev + 5)
        t = t[np.interp(t, np.arange(n) / sr, gate) > 0.5]
        x = x + 8.0 * sev * S.impulse_train(n, sr, t, 1.0, S.resonance_kernel(sr, 1.4 * unit.res_hz, 0.002))
    x = x + 0.3 * S.harmonics(S.phase_of(np.full(n, 50.0), sr, rng), np.array([1.0, 0.5, 0.3]), rng)
    return _mic(x, sr, attrs["mic"])


# ------------------------------------------------------------------------ ToyCar
def _toycar(rng, unit, attrs, fault, sev, n, sr):
    volt = float(attrs["spd"].rstrip("V"))
    ratio = {"A": 18.0, "B": 22.0, "C": 26.0, "D": 30.0}[attrs["car"]]
    f_motor = 110.0 * volt / 28.0 * unit.pitch
    f = S.speed_profile(rng, n, sr, f_motor, wobble=0.01, wobble_hz=1.0)
    ph = S.phase_of(f, sr, rng)
    k, amps = _series(unit, f_motor, sr)
    orders = np.arange(1, k + 1)
    amps = amps * (1 + 1.5 * (orders % 3 == 0))        # three-pole commutator ripple
    motor = S.harmonics(ph, amps, rng)
    f_wheel = f_motor / ratio
    wheel_ph = S.phase_of(f / ratio, sr, rng)
    road = S.band_noise(rng, n, sr, 60, 2500) * (1 + 0.25 * np.sin(2 * np.pi * wheel_ph))
    x = motor / S.rms(motor) + 0.8 * road
    dur = n / sr
    if fault == "gear-damage":  # a broken pinion tooth: a click every motor revolution
        t = S.periodic_times(rng, dur, 1 / f_motor, jitter=0.01)
        x = x + 5 * sev * S.impulse_train(n, sr, t, 1.0, S.resonance_kernel(sr, unit.res_hz, 0.0015))
    if fault == "tyre-damage":  # a flat spot: a thump every wheel revolution
        t = S.periodic_times(rng, dur, 1 / f_wheel, jitter=0.01)
        x = x + 40 * sev * S.impulse_train(n, sr, t, 1.0, S.resonance_kernel(sr, 180, 0.015))
    if fault == "brush-wear":  # worn motor brushes: sparking crackle
        t = S.poisson_times(rng, dur, 400 * sev + 10)
        x = x + 6 * sev * S.impulse_train(n, sr, t, rng.uniform(0.2, 1, len(t)),
                                            S.resonance_kernel(sr, 5000, 0.0005))
    return _mic(x, sr, attrs["mic"])


# ---------------------------------------------------------------------- ToyTrain
def _toytrain(rng, unit, attrs, fault, sev, n, sr):
    speed = float(attrs["spd"]) * unit.pitch        # speed level -> 0.1 m/s each
    v = 0.1 * speed
    f_motor = 60.0 * speed
    f = S.speed_profile(rng, n, sr, f_motor, wobble=0.01)
    ph = S.phase_of(f, sr, rng)
    k, amps = _series(unit, f_motor, sr)
    motor = S.harmonics(ph, amps, rng)
    dur = n / sr
    rail_len = {"A": 0.16, "B": 0.20, "C": 0.25, "D": 0.30}[attrs["track"]]
    joints = S.periodic_times(rng, dur, rail_len / v, jitter=0.01)
    joints = np.concatenate([joints, joints + 0.06 / v])  # front and rear bogie
    clack = S.impulse_train(n, sr, joints, 1.0, S.resonance_kernel(sr, 0.8 * unit.res_hz, 0.006))
    x = motor / S.rms(motor) + 3.0 * clack + 0.6 * S.band_noise(rng, n, sr, 100, 4000)
    wheel_f = v / (np.pi * 0.012)
    if fault == "flange-squeal":  # the flange rubs the rail: intermittent high squeal
        squeal_f = S.speed_profile(rng, n, sr, 1.5 * unit.res_hz, wobble=0.03, wobble_hz=2)
        bursts = S.envelope(n, sr, [(t0, t0 + rng.uniform(0.2, 0.6), 1.0)
                                    for t0 in S.poisson_times(rng, dur, 0.8)], 0.03)
        x = x + 8.0 * sev * bursts * np.sin(2 * np.pi * S.phase_of(squeal_f, sr, rng))
    if fault == "wheel-flat":  # a flat wheel: an impact every wheel revolution
        t = S.periodic_times(rng, dur, 1 / wheel_f, jitter=0.01)
        x = x + 15 * sev * S.impulse_train(n, sr, t, 1.0, S.resonance_kernel(sr, unit.res_hz, 0.003))
    if fault == "loose-coupler":  # a loose coupler rattles at random
        t = S.poisson_times(rng, dur, 25 * sev + 3)
        x = x + 4 * sev * S.impulse_train(n, sr, t, 1.0, S.resonance_kernel(sr, 900, 0.01))
    return _mic(x, sr, attrs["mic"])


# ------------------------------------------------------------------- ToyConveyor
def _toyconveyor(rng, unit, attrs, fault, sev, n, sr):
    f_motor = 45.0 * float(attrs["spd"]) * unit.pitch
    f = S.speed_profile(rng, n, sr, f_motor, wobble=0.008)
    ph = S.phase_of(f, sr, rng)
    k, amps = _series(unit, f_motor, sr)
    motor = S.harmonics(ph, amps, rng)
    dur = n / sr
    roller_t = S.periodic_times(rng, dur, 1 / (f_motor / 8), jitter=0.05)
    load = {"lo": 0.3, "mid": 0.5, "hi": 0.8}[attrs["load"]]  # heavier parcels, louder rollers
    rollers = S.impulse_train(n, sr, roller_t, load, S.resonance_kernel(sr, 0.7 * unit.res_hz, 0.004))
    x = motor / S.rms(motor) + rollers + 0.7 * S.band_noise(rng, n, sr, 100, 3000)
    if fault == "belt-damage":  # a torn belt joint slaps once per belt revolution
        t = S.periodic_times(rng, dur, 1 / (f_motor / 40), jitter=0.01)
        x = x + 40 * sev * S.impulse_train(n, sr, t, 1.0, S.resonance_kernel(sr, 400, 0.01))
    if fault == "roller-jam":  # a seized roller: the belt drags over it and squeals
        x = x + 1.5 * sev * S.band_noise(rng, n, sr, 0.9 * unit.res_hz, 1.1 * unit.res_hz)
    return _mic(x, sr, attrs["mic"])


_MIC = ("1", "2", "3", "4")

MACHINES: dict[str, Machine] = {
    m.name: m
    for m in [
        Machine("fan", {"spd": ("900", "1050", "1200", "1350"), "wind": ("lo", "mid", "hi"), "mic": _MIC},
                {"imbalance": "unbalanced impeller: once-per-revolution throb",
                 "blade-damage": "chipped blade: tones at every revolution, not only blade pass",
                 "clogging": "clogged filter: a whistle at the duct resonance"},
                _fan, "industrial fan: blade-pass harmonics of the rotation plus broadband airflow"),
        Machine("pump", {"spd": ("1450", "1600", "1750", "1900"), "flow": ("lo", "mid", "hi"), "mic": _MIC},
                {"cavitation": "vapour bubbles collapsing: sharp random crackle",
                 "leakage": "leaking seal: high-pitched hiss",
                 "clogging": "blocked inlet: vane-pass tone surges"},
                _pump, "water pump: vane-pass harmonics plus flow noise"),
        Machine("bearing", {"vel": ("6", "8", "10", "12"), "load": ("lo", "mid", "hi"), "mic": _MIC},
                {"outer-race": "outer-race spall: impacts at BPFO ringing the housing",
                 "inner-race": "inner-race spall: impacts at BPFI modulated by the load zone",
                 "ball": "damaged ball: impacts at twice the ball spin frequency"},
                _bearing, "rolling bearing: shaft harmonics and rolling noise"),
        Machine("gearbox", {"volt": ("1.0", "1.5", "2.0", "2.5"), "wt": ("0", "30", "60", "90"), "mic": _MIC},
                {"tooth-crack": "cracked tooth: sidebands and an impact per revolution",
                 "wear": "worn flanks: higher mesh harmonics and friction noise"},
                _gearbox, "gearbox: gear-mesh harmonics with shaft-rate sidebands"),
        Machine("slider", {"vel": ("300", "400", "500", "600"), "ac": ("0.03", "0.05", "0.07", "0.09"),
                           "mic": _MIC},
                {"no-grease": "dry rail: stick-slip squeal",
                 "rail-damage": "dented rail: an impact mid-stroke",
                 "loose-belt": "slack belt: wobbling whine"},
                _slider, "slide rail: strokes with motor whine and end-stop clicks"),
        Machine("valve", {"pat": ("00", "01", "02", "03"), "flow": ("lo", "hi"), "mic": _MIC},
                {"contamination": "debris in the seat: leaks when closed, weak closing click",
                 "sticking": "sticking plunger: late and double opening clicks",
                 "coil-chatter": "weak coil: the armature chatters while open"},
                _valve, "solenoid valve: open/close clicks and flow hiss in a control pattern"),
        Machine("ToyCar", {"car": ("A", "B", "C", "D"), "spd": ("28V", "31V", "34V", "37V"), "mic": _MIC},
                {"gear-damage": "broken pinion tooth: a click every motor revolution",
                 "tyre-damage": "flat spot on a tyre: a thump every wheel revolution",
                 "brush-wear": "worn motor brushes: sparking crackle"},
                _toycar, "toy car: DC motor with commutator ripple, gears and wheels on a road"),
        Machine("ToyTrain", {"track": ("A", "B", "C", "D"), "spd": ("5", "6", "7", "8"), "mic": _MIC},
                {"flange-squeal": "flange rubbing the rail: intermittent squeal",
                 "wheel-flat": "flat wheel: an impact every wheel revolution",
                 "loose-coupler": "loose coupler: random rattle"},
                _toytrain, "toy train: motor whine and rail-joint clicks"),
        Machine("ToyConveyor", {"spd": ("1", "2", "3", "4"), "load": ("lo", "mid", "hi"), "mic": _MIC},
                {"belt-damage": "torn belt joint: a slap per belt revolution",
                 "roller-jam": "seized roller: squeal"},
                _toyconveyor, "toy conveyor: belt motor and roller clicks"),
    ]
}
