// The seed's experiment: a computation that takes 5 seconds and returns 42. The signal stops it
// early when the guard gives it up (its timeout, a lost lock, the worker's shutdown).
import { setTimeout as sleep } from 'node:timers/promises';

export default (_key, { signal }) => sleep(5000, 42, { signal });
