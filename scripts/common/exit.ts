/**
 * Exit once stdout and stderr are written out. For a process that is done but may still hold
 * handles of its own or of a library (a module's timer, a signal listener a SIGTERM should still
 * find): it must neither wait for them nor cut its last lines short.
 */
export function exitOnceFlushed(code?: number): void {
  let flushing = 2;
  const flushed = () => {
    flushing -= 1;
    // process.exit(undefined) would set the exit code to 0: without a code, process.exitCode stands.
    if (flushing === 0) code === undefined ? process.exit() : process.exit(code);
  };
  process.stdout.write('', flushed);
  process.stderr.write('', flushed);
}
