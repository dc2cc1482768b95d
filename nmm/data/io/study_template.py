"""The commented template study that ``nmm-study init DIR`` writes (layout:
:mod:`nmm.data.io.study`): ``study.yaml`` and one subject, ``S01/subject.yaml``, whose files
the user then adds."""

from __future__ import annotations

import os
from pathlib import Path

from nmm.atomic import atomic_write_text
from nmm.data.io.study_export import check_new_folder
from nmm.data.io.study_layout import STUDY_FILE, SUBJECT_FILE

STUDY_TEMPLATE = """\
# A study for nmm-painsig (read with data=study data.path=<this folder>).
# One folder per subject (S01/, S02/, ...), each with its subject.yaml; check the study with
# nmm-check-data data=study data.path=<this folder>.
format: nmm-study
version: 1
name: my-study                 # the cohort's name in reports
muscle_set: elbow              # channel names the EMG maps onto (nmm/data/muscle_sets.yaml)
coordinate:
  model: r_elbow_flex          # the elbow coordinate of the subjects' models: its column in the
                               # IK .mot, and <model>_moment in the ID .sto
  data: elbow_flexion          # the name the trials carry (data.coordinate)
emg:
  kind: raw                    # raw: EMG in V/mV/uV (band-pass, notch, envelope by
                               # preprocess.emg); envelope: processed envelopes or excitations
                               # of unit 1, used as given
  unit: mV                     # unit of raw EMG in .sto/.csv files (a .c3d carries its own)
  channels: null               # EMG file label -> muscle, e.g. {EMG1: BIClong, EMG2: TRIlong};
                               # null: labels that are muscle names or aliases ('Biceps.EMG4')
mains_hz: 50                   # mains frequency where recorded, Hz (50 Europe, 60 Americas)
load:                          # where the hand-held load sits, for inverse dynamics
  body: r_ulna_radius_hand     # the body of the subjects' models that holds it
  direction: [0.0, -1.0, 0.0]  # from the body's origin (the elbow) to the grip, body frame
  lever_arm_m: 0.30            # the grip's distance from the elbow, m, unless a subject or
                               # trial gives its own
subjects: [S01]                # subject folders, in order (absent: every folder with a
                               # subject.yaml)
"""

SUBJECT_TEMPLATE = """\
# One subject. Paths are relative to this folder. Each trial's files are found by name in the
# trial's folder: <id>_ik.mot (IK), <id>_id.sto (ID; computed by OpenSim inverse dynamics from
# the model and the load when absent) and <id>_emg.c3d, .sto or .csv (EMG); `files` names
# them explicitly instead.
body_mass_kg: 70.0             # kg
height_m: 1.75                 # m
model: S01_scaled.osim         # the subject's scaled OpenSim model (absent: physics.osim)
mvic_trials: [mvic_flexion]    # ids of the maximal voluntary isometric contractions below
# mvic: {BIClong: 0.31}        # explicit MVIC reference per muscle (raw EMG units); absent: the
                               # peak of the 20-400 Hz band-passed, 6 Hz envelope of the MVIC
                               # trials' EMG
# lever_arm_m: 0.33            # this subject's grip distance from the elbow, m
# locked: {r_shoulder_elev: 1.571}   # the posture recorded in: model coordinates held still,
                               # rad (m if translational); absent: physics.locked
sessions:                      # notes per session (free-form)
  "1": {date: "2025-01-01"}
metadata: {}                   # free-form notes, kept with the subject
trials:
  - id: mvic_flexion           # files: mvic_flexion_ik.mot, mvic_flexion_emg.c3d, ...
    session: "1"
    load_kg: 0.0
  - id: flexion_01
    session: "1"
    condition: baseline        # the trial's condition (default baseline)
    load_kg: 2.0               # kg held in the hand
    # lever_arm_m: 0.33        # m (default: the subject's, else study.yaml's)
    # folder: session1         # the trial's files are in this sub-folder
    # files: {ik: ik/flexion_01.mot, id: null, emg: emg/flexion_01.c3d}   # id: null computes it
"""


def write_template(folder: str | os.PathLike[str]) -> Path:
    """Write the template study into ``folder`` (new, or empty); returns it.

    Raises:
        FileExistsError: ``folder`` exists and is not an empty folder.
    """
    folder = check_new_folder(folder)
    atomic_write_text(folder / STUDY_FILE, STUDY_TEMPLATE)
    atomic_write_text(folder / "S01" / SUBJECT_FILE, SUBJECT_TEMPLATE)
    return folder
