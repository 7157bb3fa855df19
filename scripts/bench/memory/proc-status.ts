import { readFile } from 'node:fs/promises';

/**
 * Resident memory of a running process from Linux's /proc/<pid>/status: `VmRSS` now and
 * `VmHWM`, the high-water mark since it started. null where /proc is not there (macOS).
 */
export interface ProcessMemory {
  rssMb: number;
  peakRssMb: number;
}

export async function readProcessMemory(pid: number): Promise<ProcessMemory | null> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? Number.NaN);
  return { rssMb: kb('VmRSS') / 1024, peakRssMb: kb('VmHWM') / 1024 };
}
