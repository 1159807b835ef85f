// The data folder's format mark: a new folder is marked, its own format accepted, every other refused
// with what to do and left unchanged.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { DATA_FORMAT, VERSION_FILE, claimDataFormat } from '../../lib/data-dir-version.ts';

describe('data folder format', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gw-data-format-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const refusal = () => {
    try {
      claimDataFormat(dir);
    } catch (error) {
      return error as Error & { code?: string };
    }
    return null;
  };

  it('marks a new folder with this format and accepts it again', () => {
    claimDataFormat(dir);
    expect(readFileSync(join(dir, VERSION_FILE), 'utf8')).to.equal(`${DATA_FORMAT}\n`);
    expect(DATA_FORMAT).to.equal('gateway-data 3');
    expect(refusal()).to.equal(null);
  });

  it('refuses a folder of the single-slot key layout, saying how to move on, and changes nothing', () => {
    writeFileSync(join(dir, VERSION_FILE), 'gateway-data 2\n');
    const error = refusal();
    expect(error?.code).to.equal('invalid_config');
    expect(error?.message).to.include('single-slot key layout').and.to.include('gateway export');
    expect(readFileSync(join(dir, VERSION_FILE), 'utf8')).to.equal('gateway-data 2\n');
  });

  it('refuses a folder of 0.1 (files, no mark) and one of an unknown format', () => {
    writeFileSync(join(dir, 'dump.rdb'), 'x');
    expect(refusal()?.message).to.include('written by gateway 0.1');
    writeFileSync(join(dir, VERSION_FILE), 'gateway-data 9\n');
    expect(refusal()?.message).to.include('holds data of another gateway version ("gateway-data 9"');
  });
});
