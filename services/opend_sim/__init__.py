"""A stand-in for the command-line Futu OpenD: its console login flow, telnet port and API port."""
