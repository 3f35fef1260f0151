"""Scenario tests for time-critical captioning: does the caption name the event, and in time?

`suite` (the YAML schema), `synth` (test clips: target over background at an SNR, approaching,
Doppler), `run` (clips through live captioning, recall / false alarms / latency, pass or
fail), `report` (results.json, summary.md, recall_vs_snr.png). CLI: `aac-scenarios`.
"""
