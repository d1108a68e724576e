"""Reads `check --format nagios` lines on stdin; for each, parses the perfdata with the
Python nagiosplugin library (Debian python3-nagiosplugin) and prints, per metric,
`label value warn-state crit-state`, where a state is `ok` when the value lies inside the
threshold range (no alert), `alert` when outside, `-` when no threshold is given."""
import sys
import nagiosplugin

for line in sys.stdin:
    line = line.rstrip("\n")
    if "|" not in line:
        continue
    for item in line.split("|", 1)[1].split():
        label, rest = item.split("=", 1)
        fields = rest.split(";")
        value = float(fields[0].rstrip("smKB%c"))
        states = []
        for spec in (fields + ["", ""])[1:3]:
            if spec == "":
                states.append("-")
            else:
                states.append("ok" if nagiosplugin.Range(spec).match(value) else "alert")
        print(label, fields[0], *states)
