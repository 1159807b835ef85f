// Every command the `gateway` program knows, each registering itself on the program.
import type { Command } from 'commander';

export const COMMANDS: ReadonlyArray<(program: Command) => void> = [];
