#!/usr/bin/env node
// The single `mimi-ds` entry point. Each subcommand lives beside its role and exports
// `main(argv)`; this file only dispatches, so `--help` text stays next to the code it describes.
import { NodePlatform } from "../platform/NodePlatform.js";
import { usePlatform } from "../platform/current.js";
import { UsageError } from "./flags.js";

// Every process this CLI runs is Node: client-side code (the demo) takes node:crypto.
usePlatform(NodePlatform);

type Sub = { summary: string; load: () => Promise<{ main(argv: string[]): Promise<number | void> }> };

const subcommands: Record<string, Sub> = {
  start: { summary: "start relay, gateway and provider as processes, run the demo, serve until Ctrl-C", load: () => import("./start.js") },
  demo: { summary: "run the demo against already running processes", load: () => import("./demo.js") },
  conformance: { summary: "run the DS engine's differential test on MLS passive-client vector files", load: () => import("./conformance.js") },
  provider: { summary: "run the provider (DS, QS, KeyPackage directory) behind the gateway", load: () => import("../server/cli.js") },
  relay: { summary: "run the Oblivious HTTP relay (RFC 9458 relay resource)", load: () => import("../../relay/cli.js") },
  gateway: {
    summary: "run the Oblivious HTTP gateway, or manage its keys (gateway keys rotate|list)",
    load: () => import("../../gateway/cli.js"),
  },
};

function topHelp(): string {
  const lines = ["usage: mimi-ds <command> [flags]", "", "commands:"];
  for (const [name, s] of Object.entries(subcommands)) lines.push(`  ${name.padEnd(12)} ${s.summary}`);
  lines.push("", "run `mimi-ds <command> --help` for the flags of a command");
  return lines.join("\n");
}

export async function run(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === "--help" || cmd === "-h" || cmd === "help") {
    process.stdout.write(topHelp() + "\n");
    return cmd ? 0 : 2;
  }
  const sub = subcommands[cmd];
  if (!sub) {
    process.stderr.write(`mimi-ds: unknown command ${JSON.stringify(cmd)}\n\n${topHelp()}\n`);
    return 2;
  }
  try {
    const mod = await sub.load();
    const code = await mod.main(rest);
    return typeof code === "number" ? code : 0;
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`mimi-ds ${cmd}: ${e.message}\n(see mimi-ds ${cmd} --help)\n`);
      return 2;
    }
    throw e;
  }
}

const code = await run(process.argv.slice(2));
// Long-running servers keep the event loop alive; short commands exit with their code.
if (code !== 0) process.exitCode = code;
