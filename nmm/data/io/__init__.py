"""Readers and writers for the formats of the field, one module per format."""

from nmm.data.io.c3d import C3DRecording, emg_from_c3d, read_c3d
from nmm.data.io.csv import read_csv_trial, write_csv_trial
from nmm.data.io.dataset import read_dataset, write_dataset
from nmm.data.io.opensim_files import trial_from_opensim
from nmm.data.io.sto import StoTable, read_sto, write_sto
from nmm.data.io.study import Study, read_study
from nmm.data.io.study_export import write_study
from nmm.data.io.uci import read_uci_file, read_uci_lower_limb

__all__ = [
    "C3DRecording",
    "StoTable",
    "Study",
    "emg_from_c3d",
    "read_c3d",
    "read_csv_trial",
    "read_dataset",
    "read_sto",
    "read_study",
    "read_uci_file",
    "read_uci_lower_limb",
    "trial_from_opensim",
    "write_csv_trial",
    "write_dataset",
    "write_sto",
    "write_study",
]
