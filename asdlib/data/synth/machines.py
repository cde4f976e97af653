"""Sound models of the DCASE machine types (generator version 3), with named faults.

Each machine type is a :class:`Machine`: its attributes (the ``key_value`` pairs of
the file names, each with an ordered list of values), its faults (names a mechanic
would use) and a ``render`` function::

    render(rng, unit, attrs, fault, severity, n, sr) -> machine sound (n,)

The design follows what makes synthetic data worth learning from (DESIGN.md, 11):

- **Sections are units that differ in fine structure**, not in their background:
  the harmonic gain pattern (``profile``), a part count (blades, balls, teeth,
  poles, vanes, rollers: the ratio of a mesh or pass rate to the rotation), a
  sideband or balance ratio, a modulation depth and the timing of a periodic event.
  The units of a type share their part counts, so a unit is told apart by the same
  structure its faults rework: each has a normal level of what a fault pushes out of
  range. The speed offset of a unit (``pitch``, +-0.5 %) is far below the 10-15 %
  steps of the speed attributes. The housing resonance is a weak, always-present band.
- **Attributes act on the parts faults touch**: gearbox load on the mesh sidebands,
  bearing load on the load zone that modulates the ball passes, the fan's operating
  point on the blade-pass versus once-per-turn balance, the toy car's gear ratio on
  the wheel rate, the slider's acceleration on the stroke ramps.
- **Faults rework structure**: they move energy between harmonics, change an
  impact rate or timing, or add a modulation, and the part they rework keeps its
  power (:func:`_keep_power`), so most faults leave the time-averaged spectrum
  roughly where normal variation puts it. Every type has at least one such fault
  (listed in :data:`SPECTRUM_PRESERVING`).

``unit`` holds the fixed parameters of one machine (one per section); ``attrs`` the
clip's operating conditions; ``fault`` is ``None`` for a normal clip, else a key of
``faults``; ``severity`` (>= 0, the preset's draw times the type's gain) scales the
fault. A normal clip has an RMS of about 1 before the factory hall is added.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from asdlib.data.synth import signals as S


@dataclass(frozen=True)
class Unit:
    """Fixed parameters of one machine unit (one per section)."""

    pitch: float          # speed factor around 1 (+-0.5 %: far below every speed attribute's step)
    res_hz: float         # housing / structure resonance (Hz)
    tilt: float           # how fast harmonic amplitudes fall with order
    profile: np.ndarray = field(repr=False)  # per-harmonic gains (log-normal): the unit's timbre
    count: int = 7        # part count: blades, balls, teeth, poles, vanes, rollers
    ratio: float = 0.3    # sideband / balance ratio of the unit
    depth: float = 0.2    # depth of the unit's normal modulation
    timing: float = 0.5   # phase of a periodic event within its cycle (0..1)
    hunt: float = 0.003   # depth of the unit's speed hunting (frequency modulation at 5-8 Hz)


def make_unit(rng: np.random.Generator, counts: tuple[int, int] = (5, 9)) -> Unit:
    """A random unit; ``counts`` is the inclusive range of the type's part count."""
    return Unit(
        pitch=float(rng.uniform(0.995, 1.005)),
        res_hz=float(rng.uniform(1800, 4200)),
        tilt=float(rng.uniform(0.6, 1.2)),
        profile=rng.lognormal(0.0, 0.6, 512),
        count=int(rng.integers(counts[0], counts[1] + 1)),
        ratio=float(rng.uniform(0.15, 0.45)),
        depth=float(rng.uniform(0.1, 0.35)),
        timing=float(rng.uniform(0.2, 0.8)),
        hunt=float(rng.uniform(0.001, 0.005)),
    )


@dataclass(frozen=True)
class Machine:
    name: str
    attributes: dict[str, tuple[str, ...]]
    faults: dict[str, str]
    render: Callable[..., np.ndarray]
    description: str = ""
    counts: tuple[int, int] = (5, 9)   # range of the unit's part count


# ----------------------------------------------------------------------- helpers
def _series(unit: Unit, f0: float, limit_hz: float = 7000.0) -> tuple[np.ndarray, np.ndarray]:
    """Orders 1..k of ``f0`` below ``limit_hz`` and the unit's base amplitudes for them."""
    k = max(1, min(len(unit.profile), int(limit_hz / f0)))
    orders = np.arange(1, k + 1)
    return orders, unit.profile[:k] / orders**unit.tilt


def _keep_power(new: np.ndarray, old: np.ndarray) -> np.ndarray:
    """``new`` rescaled to the power of ``old``: a fault reworks a part, it does not add to it."""
    return new * S.rms(old) / S.rms(new)


def _am(phase: np.ndarray, depth: float) -> np.ndarray:
    """Unit-power amplitude modulation ``1 + depth sin(2 pi phase)``."""
    return (1.0 + depth * np.sin(2 * np.pi * phase)) / np.sqrt(1.0 + depth**2 / 2)


def _housing(rng, unit: Unit, n: int, sr: int) -> np.ndarray:
    """The unit's housing resonance, excited weakly by the running machine (always present)."""
    return 0.12 * S.band_noise(rng, n, sr, 0.93 * unit.res_hz, 1.07 * unit.res_hz)


def _fault_rng(rng: np.random.Generator) -> np.random.Generator:
    """A generator for the fault's own draws, so a clip and its faulty twin share every other draw."""
    return np.random.default_rng(rng.integers(0, 2**63))


def _hunting(rng, n: int, sr: int, f0: float, depth: float) -> np.ndarray:
    """Instantaneous frequency of a rotor that hunts: ``f0`` wobbling by ``depth`` at 5-8 Hz.

    Every harmonic widens into a band of sidebands a few hertz wide: the fine spectrum
    changes, the time-averaged log-mel (bands tens of hertz wide) hardly does.
    """
    rate = rng.uniform(5.0, 8.0)
    return f0 * (1.0 + depth * np.sin(2 * np.pi * (rate * np.arange(n) / sr + rng.random())))


def _tone(rng, phase, amps) -> np.ndarray:
    tone = S.harmonics(phase, amps, rng)
    return tone / S.rms(tone)


# --------------------------------------------------------------------------- fan
_FAN_POINT = {"a": 1.0, "b": 0.75, "c": 0.55, "d": 0.4}  # blade-pass share at the operating point


def _fan(rng, unit, attrs, fault, sev, n, sr):
    f_rot = float(attrs["spd"]) / 60.0 * unit.pitch
    blades = unit.count
    speed = S.speed_profile(rng, n, sr, f_rot, wobble=0.001)
    hunt = unit.hunt + (0.004 * sev if fault == "clogging" else 0.0)  # clogged: hunts against the back-pressure
    speed = speed * _hunting(rng, n, sr, 1.0, hunt)
    ph = S.phase_of(speed, sr, rng)
    orders, base = _series(unit, f_rot)
    w_bp = _FAN_POINT[attrs["op"]]
    blade_pass = (orders % blades == 0) * base**0.3 * blades / orders
    once = (orders <= 3) * unit.ratio * base
    if fault == "imbalance":  # an unbalanced impeller: the once-per-turn orders take over
        once = once * (1.0 + 4.0 * sev)
    amps = 0.2 * base + 2.0 * w_bp * blade_pass + 2.0 * (1.2 - w_bp) * once
    tone = S.harmonics(ph, amps, rng)
    # blades are never quite equal: the blade pass is modulated once per turn; a chipped blade deepens it
    uneven = 0.5 * unit.depth + (1.2 * sev if fault == "blade-damage" else 0.0)
    tone = _keep_power(tone * (1.0 + uneven * np.sin(2 * np.pi * (ph + unit.timing))), tone)
    tone = tone / S.rms(tone)
    air = S.band_noise(rng, n, sr, 150, 6000)
    air_env = _am(blades * ph, unit.depth)
    shake = 1.0 + (1.0 * sev if fault == "imbalance" else 0.0)  # the unbalanced rotor shakes the housing
    return tone + 0.6 * air * air_env + shake * _housing(rng, unit, n, sr)


# ----------------------------------------------------------------------- bearing
_BEARING_LOAD = {"0": 0.25, "1": 0.5, "2": 0.75, "3": 1.0}  # load-zone depth of the ball passes


def _bearing(rng, unit, attrs, fault, sev, n, sr):
    frng = _fault_rng(rng)
    f_shaft = float(attrs["vel"]) * unit.pitch
    balls = unit.count
    ph = S.phase_of(S.speed_profile(rng, n, sr, f_shaft, wobble=0.003), sr, rng)
    orders, base = _series(unit, f_shaft, 2000)
    shaft = _tone(rng, ph, base)
    dur = n / sr
    load = _BEARING_LOAD[attrs["load"]]
    kernel = S.resonance_kernel(sr, unit.res_hz, 0.002)
    # ball passes: every ball rings the housing as it enters the load zone (once per
    # ball per cage turn); the load sets how strongly the zone modulates them
    bpfo = 0.4 * balls * f_shaft
    t = S.periodic_times(rng, dur, 1 / bpfo, jitter=0.004)
    zone = 1.0 + load * np.cos(2 * np.pi * (f_shaft * t + unit.timing))
    rate = bpfo
    if fault == "ball":  # a damaged ball: each pass is as strong as where that ball is on its cage turn
        zone = zone * (1.0 + min(1.0, sev) * np.cos(2 * np.pi * 0.4 * f_shaft * t) ** 2 * 2.0)
    if fault == "outer-race":  # a spall: every pass becomes an impact of equal strength, no zone
        zone = 1.0 + (1.0 - min(1.0, sev)) * (zone - 1.0) + 2.0 * sev * (frng.random(len(t)) < 0.5)
    if fault == "inner-race":  # a spall on the inner race: passes at BPFI instead of BPFO
        rate = bpfo * (1.0 + 0.5 * min(1.0, sev))
        t = S.periodic_times(frng, dur, 1 / rate, jitter=0.004)
        zone = 1.0 + load * np.cos(2 * np.pi * (f_shaft * t + unit.timing))
    passes = S.impulse_train(n, sr, t, zone, kernel)
    if fault == "inner-race":  # the impacts reach the housing through the balls: part rings the race's own mode
        share = min(1.0, 0.3 * sev)
        inner = S.impulse_train(n, sr, t, zone, S.resonance_kernel(sr, 1.5 * unit.res_hz, 0.0015))
        passes = (1 - share) * passes + share * inner * S.rms(passes) / S.rms(inner)
    passes = passes / S.rms(passes) * np.sqrt(bpfo / rate)  # equal energy per second at any rate
    rolling = S.band_noise(rng, n, sr, 600, 5000) * _am(ph, unit.depth)
    return 0.6 * shaft + 0.8 * passes + 0.6 * rolling + _housing(rng, unit, n, sr)


# ----------------------------------------------------------------------- gearbox
def _gearbox(rng, unit, attrs, fault, sev, n, sr):
    f_shaft = 8.0 * float(attrs["volt"]) * unit.pitch
    teeth = unit.count
    speed = S.speed_profile(rng, n, sr, f_shaft, wobble=0.001)
    # every gear is a little eccentric: the mesh speeds up and slows down once per turn
    swing = unit.hunt + (0.06 * sev if fault == "eccentric" else 0.0)
    speed = speed * (1.0 + swing * np.sin(2 * np.pi * f_shaft * np.arange(n) / sr))
    ph = S.phase_of(speed, sr, rng)
    orders, base = _series(unit, f_shaft)
    load = float(attrs["wt"]) / 90.0  # 0..1: the load deepens the mesh sidebands
    sideband = unit.ratio * (0.4 + load)
    mesh = np.zeros(len(orders))
    for m, g in ((1, 1.0), (2, 0.2 + unit.depth), (3, 0.25)):  # gear-mesh harmonics with +-1x shaft sidebands
        mesh += g * (orders == m * teeth)
        mesh += g * sideband * ((orders == m * teeth - 1) + (orders == m * teeth + 1))
    if fault == "wear":  # worn flanks: the mesh energy moves to its higher harmonics
        shift = np.array([(orders == m * teeth) * w for m, w in ((1, -0.8), (2, 1.5), (3, 1.5))]).sum(0)
        mesh = np.maximum(mesh + min(1.0, sev) * shift, 0.0)
    if fault == "tooth-crack":  # one cracked tooth: sidebands at +-1..4x shaft around every mesh order
        for m in (1, 2, 3):
            for sb in (-4, -3, -2, 2, 3, 4):
                mesh += sev * 0.6 / m * (orders == m * teeth + sb)
    amps = 0.25 * base + mesh  # the shaft orders carry the unit's own pattern
    tone = S.harmonics(ph, amps, rng)
    tone = tone / S.rms(tone)
    friction = S.coloured_noise(rng, n, 1.0) * _am(teeth * ph, unit.depth)
    return tone + 0.5 * friction + _housing(rng, unit, n, sr)


# ------------------------------------------------------------------------ slider
def _slider(rng, unit, attrs, fault, sev, n, sr):
    frng = _fault_rng(rng)
    vel = float(attrs["vel"]) * unit.pitch             # mm/s
    accel = float(attrs["ac"])                          # larger: shorter ramps
    stroke_s = (150.0 + 40.0 * unit.count) / vel
    pause_s = 0.1 + 0.2 * unit.timing
    dur = n / sr
    starts = np.arange(rng.uniform(-stroke_s, 0), dur, stroke_s + pause_s)
    ramp = 0.002 / accel
    gate = S.envelope(n, sr, [(s, s + stroke_s, 1.0) for s in starts], ramp_s=ramp)
    f_motor = vel * 0.3                                 # ball-screw motor speed, Hz
    speed = S.speed_profile(rng, n, sr, f_motor, wobble=0.001)
    wobble = unit.hunt + (0.002 * sev if fault == "loose-belt" else 0.0)  # a slack belt wobbles more
    speed = speed * _hunting(rng, n, sr, 1.0, wobble)
    ph = S.phase_of(speed * (0.3 + 0.7 * gate), sr, rng)
    orders, base = _series(unit, f_motor)
    amps = base * (1.0 + unit.ratio * 4 * (orders % 4 == 0))  # four-pole motor ripple
    whine = S.harmonics(ph, amps, rng)
    # the carriage chatters a little at ~45 Hz; on a dry rail stick-slip makes it deep
    chatter = 0.5 * unit.depth + (1.3 * sev if fault == "no-grease" else 0.0)
    whine = _keep_power(whine * _am(S.phase_of(np.full(n, 45.0), sr, rng), min(0.95, chatter)), whine)
    if fault == "no-grease":  # and the carriage sticks and slips: the whine pulses at ~12 Hz
        slip = _am(12.0 * np.arange(n) / sr + unit.timing, min(0.9, 0.5 * sev))
        whine = _keep_power(whine * slip, whine)
    whine = whine / S.rms(whine)
    x = gate * (whine + 0.4 * S.band_noise(rng, n, sr, 300, 5000))
    if fault == "no-grease":  # and the dry rail squeals
        x = x + 0.3 * min(4.0, sev) * gate * S.band_noise(frng, n, sr, 2500, 6000)
    stops = np.concatenate([starts, starts + stroke_s])
    hits = S.resonance_kernel(sr, 0.6 * unit.res_hz, 0.006)
    x = x + 1.5 * S.impulse_train(n, sr, stops, np.sqrt(accel / 0.06), hits)
    if fault == "rail-damage":  # a dent on the rail: the carriage knocks over it mid-stroke, the rail rings
        dents = starts + stroke_s * (0.3 + 0.4 * unit.timing)
        x = x + 3.0 * sev * S.impulse_train(n, sr, dents, 1.0, S.resonance_kernel(sr, 0.9 * unit.res_hz, 0.01))
    return x + _housing(rng, unit, n, sr)


# ------------------------------------------------------------------------- valve
_VALVE_PATTERNS = {  # (open_s, closed_s) cycles of the four control programs
    "00": (0.5, 0.5), "01": (0.3, 0.7), "02": (0.8, 0.4), "03": (0.25, 0.25),
}


def _valve(rng, unit, attrs, fault, sev, n, sr):
    open_s, closed_s = _VALVE_PATTERNS[attrs["pat"]]
    period = (open_s + closed_s) * unit.pitch
    open_s = open_s * unit.pitch
    dur = n / sr
    opens = np.arange(rng.uniform(-period, 0), dur, period)
    opens = opens + rng.normal(0, 0.003, len(opens))
    closes = opens + open_s
    bounce = 0.01 + 0.02 * unit.timing  # the plunger's bounce after closing
    if fault == "sticking":  # the plunger sticks: it opens late
        opens = opens + min(1.0, sev) * 0.4 * open_s
    gate = S.envelope(n, sr, [(o, c, 1.0) for o, c in zip(opens, closes)], ramp_s=0.01)
    flow = {"lo": 0.5, "hi": 0.9}[attrs["flow"]]
    hiss = flow * S.band_noise(rng, n, sr, 400, 4000)
    if fault == "contamination":  # debris in the seat: part of the flow goes on when closed
        leak = min(0.8, sev)
        gate = _keep_power(gate + leak * (1 - gate), gate)
    flow_gate = gate
    if fault == "coil-chatter":  # a weak coil cannot hold the plunger: the flow flutters while open
        flutter = _am(9.0 * np.arange(n) / sr + unit.timing, min(0.8, 0.5 * sev))
        flow_gate = _keep_power(gate * flutter, gate)
    x = flow_gate * hiss
    click_open = S.resonance_kernel(sr, 0.5 * unit.res_hz, 0.006)
    click_close = S.resonance_kernel(sr, unit.res_hz, 0.004)
    snap = 1.0 + (min(1.0, sev) if fault == "sticking" else 0.0)  # a stuck plunger lets go with a snap
    x = x + 2.0 * S.impulse_train(n, sr, opens, snap, click_open)
    close_times, close_amps = np.concatenate([closes, closes + bounce]), np.r_[np.ones(len(closes)),
                                                                               unit.ratio * np.ones(len(closes))]
    if fault == "coil-chatter":  # a weak coil: the armature chatters, so each close rattles
        extra = np.concatenate([closes + bounce * (j + 2) for j in range(6)])
        close_times = np.concatenate([close_times, extra])
        close_amps = np.r_[close_amps * (1 - 0.5 * min(1.0, sev)), 0.45 * min(1.0, sev) * np.ones(len(extra))]
    x = x + 2.0 * S.impulse_train(n, sr, close_times, close_amps, click_close)
    coil = S.harmonics(S.phase_of(np.full(n, 50.0 * unit.count / 4), sr, rng), np.array([1.0, unit.ratio, 0.2]), rng)
    return x + 0.3 * gate * coil + _housing(rng, unit, n, sr)


# ------------------------------------------------------------------------ ToyCar
def _toycar(rng, unit, attrs, fault, sev, n, sr):
    frng = _fault_rng(rng)
    volt = float(attrs["spd"].rstrip("V"))
    ratio = {"A": 18.0, "B": 22.0, "C": 26.0, "D": 30.0}[attrs["car"]]
    f_motor = 110.0 * volt / 28.0 * unit.pitch
    speed = S.speed_profile(rng, n, sr, f_motor, wobble=0.001, wobble_hz=1.0)
    # tyres are never round: the motor slows down a little once per wheel turn, a flat spot a lot
    dip = unit.hunt + (0.0075 * min(4.0, sev) if fault == "tyre-damage" else 0.0)
    speed = speed * (1.0 - dip * np.cos(np.pi * f_motor / ratio * np.arange(n) / sr) ** 8)
    ph = S.phase_of(speed, sr, rng)
    orders, base = _series(unit, f_motor)
    poles = unit.count
    ripple = (orders % poles == 0) * unit.ratio * 6
    if fault == "brush-wear":  # worn brushes: the commutator ripple moves to the odd orders between poles
        ripple = ripple * (1 - min(1.0, sev)) + min(1.0, sev) * unit.ratio * 6 * (orders % poles == poles // 2)
    motor = S.harmonics(ph, base * (1 + ripple), rng)
    wheel_ph = S.phase_of(speed / ratio, sr, rng)
    motor = motor / S.rms(motor)
    road = S.band_noise(rng, n, sr, 60, 2500) * _am(wheel_ph, unit.depth)
    x = motor + 0.6 * road
    if fault == "gear-damage":  # a broken pinion tooth: a click every motor revolution
        t = S.periodic_times(frng, n / sr, 1 / f_motor, jitter=0.005)
        x = x + 2.5 * sev * S.impulse_train(n, sr, t, 1.0, S.resonance_kernel(sr, unit.res_hz, 0.0015))
    return x + _housing(rng, unit, n, sr)


# ---------------------------------------------------------------------- ToyTrain
def _toytrain(rng, unit, attrs, fault, sev, n, sr):
    frng = _fault_rng(rng)
    speed = float(attrs["spd"]) * unit.pitch        # speed level -> 0.1 m/s each
    v = 0.1 * speed
    f_motor = 60.0 * speed
    wheel_f = v / (np.pi * 0.012)
    motor_speed = S.speed_profile(rng, n, sr, f_motor, wobble=0.001)
    # the motor jerks a little once per wheel turn; a flat wheel makes it jerk hard
    jerk = unit.hunt + (0.03 * min(1.0, sev) if fault == "wheel-flat" else 0.0)
    motor_speed = motor_speed * (1.0 - jerk * np.cos(np.pi * wheel_f * np.arange(n) / sr) ** 8)
    ph = S.phase_of(motor_speed, sr, rng)
    orders, base = _series(unit, f_motor)
    motor = S.harmonics(ph, base * (1 + unit.ratio * 4 * (orders % unit.count == 0)), rng)
    dur = n / sr
    rail_len = {"A": 0.16, "B": 0.20, "C": 0.25, "D": 0.30}[attrs["track"]]
    joints = S.periodic_times(rng, dur, rail_len / v, jitter=0.01)
    axle = (0.03 + 0.04 * unit.timing) / v          # front and rear axle of the bogie
    joint_times = np.concatenate([joints, joints + axle])
    joint_amps = np.r_[np.ones(len(joints)), (0.5 + unit.ratio) * np.ones(len(joints))]
    if fault == "loose-coupler":  # a loose coupler: each joint shakes the next car a moment later
        joint_times = np.concatenate([joint_times, joints + axle * (1.5 + frng.random(len(joints)))])
        joint_amps = np.r_[joint_amps * (1 - 0.4 * min(1.0, sev)), min(1.0, sev) * np.ones(len(joints))]
    clack = S.impulse_train(n, sr, joint_times, joint_amps, S.resonance_kernel(sr, 0.8 * unit.res_hz, 0.006))
    motor = motor / S.rms(motor)
    x = motor + 1.5 * clack + 0.5 * S.band_noise(rng, n, sr, 100, 4000)
    if fault == "flange-squeal":  # the flange rubs the rail: the motor's high orders squeal
        squeal = S.harmonics(ph, (orders > 3000 / f_motor) * base * 3, frng)
        x = x + 0.8 * sev * squeal / S.rms(squeal)
    return x + _housing(rng, unit, n, sr)


# ------------------------------------------------------------------------- pump (2020)
def _pump(rng, unit, attrs, fault, sev, n, sr):
    frng = _fault_rng(rng)
    f_rot = float(attrs["spd"]) / 60.0 * unit.pitch
    vanes = unit.count
    ph = S.phase_of(S.speed_profile(rng, n, sr, f_rot, wobble=0.004), sr, rng)
    orders, base = _series(unit, f_rot, 4000)
    amps = 0.3 * base + (orders % vanes == 0) * vanes / orders
    if fault == "clogging":  # a blocked inlet: the vane pass gives way to the shaft orders
        amps = amps + min(1.0, sev) * 3 * (orders <= 3) * base
    tone = S.harmonics(ph, amps, rng)
    flow_level = {"lo": 0.5, "mid": 0.8, "hi": 1.1}[attrs["flow"]]
    flow = S.band_noise(rng, n, sr, 80, 3000) * _am(vanes * ph, unit.depth)
    if fault == "cavitation":  # vapour bubbles: the flow noise crackles in random bursts
        bursts = S.speed_profile(frng, n, sr, 1.0, wobble=1.0, wobble_hz=20) > 1.0
        flow = _keep_power(flow * (1 + 3 * min(1.0, sev) * bursts), flow)
    x = tone / S.rms(tone) + flow_level * flow
    if fault == "leakage":  # a leaking seal: a hiss
        x = x + 0.6 * sev * S.band_noise(frng, n, sr, 3000, 7000)
    return x + _housing(rng, unit, n, sr)


# ------------------------------------------------------------------- ToyConveyor (2020)
def _toyconveyor(rng, unit, attrs, fault, sev, n, sr):
    frng = _fault_rng(rng)
    f_motor = 45.0 * float(attrs["spd"]) * unit.pitch
    ph = S.phase_of(S.speed_profile(rng, n, sr, f_motor, wobble=0.004), sr, rng)
    orders, base = _series(unit, f_motor)
    motor = _tone(rng, ph, base)
    dur = n / sr
    roller_t = S.periodic_times(rng, dur, unit.count / f_motor, jitter=0.02)
    load = {"lo": 0.3, "mid": 0.5, "hi": 0.8}[attrs["load"]]
    amps = load * np.ones(len(roller_t))
    if fault == "roller-jam":  # a seized roller: every other roller pass is missing, the rest harder
        amps = amps * np.where(np.arange(len(roller_t)) % 2 == 0, 1 + min(1.0, sev), 1 - min(1.0, sev))
    rollers = S.impulse_train(n, sr, roller_t, amps, S.resonance_kernel(sr, 0.7 * unit.res_hz, 0.004))
    x = motor + rollers + 0.6 * S.band_noise(rng, n, sr, 100, 3000)
    if fault == "belt-damage":  # a torn belt joint slaps once per belt revolution
        t = S.periodic_times(frng, dur, 40 / f_motor, jitter=0.01)
        x = x + 8 * sev * S.impulse_train(n, sr, t, 1.0, S.resonance_kernel(sr, 400, 0.01))
        x = x + 0.3 * sev * S.band_noise(frng, n, sr, 200, 1200)  # and the loose end flaps
    return x + _housing(rng, unit, n, sr)


_LEVELS = ("0", "1", "2", "3")

MACHINES: dict[str, Machine] = {
    m.name: m
    for m in [
        Machine("fan", {"spd": ("900", "1050", "1200", "1350"), "op": tuple(_FAN_POINT)},
                {"imbalance": "unbalanced impeller: energy moves from the blade pass to the once-per-turn orders, the housing shakes",
                 "blade-damage": "chipped blade: the blade pass is modulated once per turn",
                 "clogging": "clogged filter: the motor hunts, every harmonic widens (same spectrum)"},
                _fan, "industrial fan: blade-pass harmonics of the rotation plus airflow", (7, 7)),
        Machine("pump", {"spd": ("1450", "1600", "1750", "1900"), "flow": ("lo", "mid", "hi")},
                {"cavitation": "vapour bubbles: the flow noise crackles in bursts",
                 "leakage": "leaking seal: a hiss",
                 "clogging": "blocked inlet: the vane pass gives way to the shaft orders"},
                _pump, "water pump: vane-pass harmonics plus flow noise", (4, 7)),
        Machine("bearing", {"vel": ("6", "8", "10", "12"), "load": _LEVELS},
                {"outer-race": "outer-race spall: every ball pass becomes an impact, the load zone vanishes",
                 "inner-race": "inner-race spall: the passes come at BPFI instead of BPFO",
                 "ball": "damaged ball: the ball passes are modulated at the cage rate"},
                _bearing, "rolling bearing: shaft orders, ball passes through the load zone, rolling noise",
                (7, 12)),
        Machine("gearbox", {"volt": ("1.0", "1.3", "1.6", "1.9"), "wt": ("0", "30", "60", "90")},
                {"tooth-crack": "cracked tooth: wide sidebands around the mesh orders",
                 "wear": "worn flanks: mesh energy moves to the higher mesh harmonics",
                 "eccentric": "eccentric gear: the mesh frequency swings once per turn"},
                _gearbox, "gearbox: gear-mesh harmonics with load-dependent shaft-rate sidebands", (23, 23)),
        Machine("slider", {"vel": ("300", "400", "500", "600"), "ac": ("0.03", "0.05", "0.07", "0.09")},
                {"no-grease": "dry rail: stick-slip chatter on the motor whine, and a squeal",
                 "rail-damage": "dented rail: a knock mid-stroke",
                 "loose-belt": "slack belt: the motor speed wobbles (same spectrum)"},
                _slider, "slide rail: strokes with motor whine and end-stop knocks", (3, 8)),
        Machine("valve", {"pat": ("00", "01", "02", "03"), "flow": ("lo", "hi")},
                {"contamination": "debris in the seat: flow goes on when closed",
                 "sticking": "sticking plunger: it opens late, with a snap",
                 "coil-chatter": "weak coil: the flow flutters while open and each closing rattles"},
                _valve, "solenoid valve: open/close clicks, coil hum and flow hiss in a control pattern", (3, 6)),
        Machine("ToyCar", {"car": ("A", "B", "C", "D"), "spd": ("28V", "31V", "34V", "37V")},
                {"gear-damage": "broken pinion tooth: a click every motor revolution",
                 "tyre-damage": "flat spot on a tyre: the motor slows down once per wheel turn",
                 "brush-wear": "worn brushes: the commutator ripple moves between orders"},
                _toycar, "toy car: DC motor with commutator ripple, gears and wheels on a road", (5, 5)),
        Machine("ToyTrain", {"track": ("A", "B", "C", "D"), "spd": ("5", "6", "7", "8")},
                {"flange-squeal": "flange rubbing the rail: the motor's high orders squeal",
                 "wheel-flat": "flat wheel: the motor jerks once per wheel turn",
                 "loose-coupler": "loose coupler: every rail joint rattles twice"},
                _toytrain, "toy train: motor whine and rail-joint clicks", (5, 5)),
        Machine("ToyConveyor", {"spd": ("1", "2", "3", "4"), "load": ("lo", "mid", "hi")},
                {"belt-damage": "torn belt joint: a slap per belt revolution, the loose end flaps",
                 "roller-jam": "seized roller: every other roller pass changes"},
                _toyconveyor, "toy conveyor: belt motor and roller clicks", (6, 10)),
    ]
}

SPECTRUM_PRESERVING = {
    "fan": "clogging", "bearing": "ball", "gearbox": "eccentric", "slider": "loose-belt", "valve": "coil-chatter",
    "ToyCar": "tyre-damage", "ToyTrain": "loose-coupler", "pump": "cavitation", "ToyConveyor": "roller-jam",
}
"""Per type, a fault that leaves the time-averaged spectrum where it was (within 1.5 dB in
every mel band within 30 dB of the loudest, at the middle of the demo preset's severity
range): a detector of stationary energy cannot find it. tests/test_synth.py measures it."""
