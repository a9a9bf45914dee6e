/**
 * Each pod's filesystem is a real directory under a private temp dir, so exec can run the
 * real `tar` for `kubectl cp` (both directions) instead of a hand-written tar codec.
 * Paths inside the pod are absolute (`/tmp/x`) and are resolved under the pod's root; a
 * path that would escape the root is refused.
 */
import { mkdirSync } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile, readdir } from 'node:fs/promises';
import { dirname, join, normalize, sep } from 'node:path';
import { createTempDir } from '../pki.js';

export class PodFilesystems {
  private base: string | undefined;

  /** The host directory that is `/` for this pod (created on first use, with /tmp). */
  root(namespace: string, pod: string): string {
    this.base ??= createTempDir('kubegate-podfs-');
    const dir = join(this.base, encodeURIComponent(namespace), encodeURIComponent(pod));
    mkdirSync(join(dir, 'tmp'), { recursive: true });
    return dir;
  }

  /** Host path for a pod path; throws if it escapes the pod's root. */
  resolve(namespace: string, pod: string, podPath: string): string {
    const root = this.root(namespace, pod);
    const rel = normalize(`/${podPath}`).replace(/^\/+/, '');
    const full = join(root, rel);
    if (full !== root && !full.startsWith(root + sep)) throw new Error(`path escapes pod root: ${podPath}`);
    return full;
  }

  async writeFile(namespace: string, pod: string, podPath: string, data: string | Buffer): Promise<void> {
    const p = this.resolve(namespace, pod, podPath);
    await mkdir(dirname(p), { recursive: true });
    await writeFile(p, data);
  }

  async readFile(namespace: string, pod: string, podPath: string): Promise<Buffer> {
    return readFile(this.resolve(namespace, pod, podPath));
  }

  async kind(namespace: string, pod: string, podPath: string): Promise<'file' | 'dir' | undefined> {
    try {
      const s = await stat(this.resolve(namespace, pod, podPath));
      return s.isDirectory() ? 'dir' : 'file';
    } catch {
      return undefined;
    }
  }

  async list(namespace: string, pod: string, podPath: string): Promise<string[]> {
    return (await readdir(this.resolve(namespace, pod, podPath))).sort();
  }

  remove(namespace: string, pod: string): void {
    if (this.base === undefined) return;
    void rm(join(this.base, encodeURIComponent(namespace), encodeURIComponent(pod)), { recursive: true, force: true });
  }

  async removeAll(): Promise<void> {
    if (this.base !== undefined) await rm(this.base, { recursive: true, force: true });
  }
}
