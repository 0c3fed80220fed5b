// Entry point: wires the subcommands (one file each under src/cli). No logic of its own.
int main() { return 0; }
