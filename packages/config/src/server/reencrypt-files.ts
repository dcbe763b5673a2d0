import { readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isScalar, parseDocument, visit } from 'yaml';
import { ConfigSourceError } from '../errors.js';
import { isEncrypted, KeyRing } from './secrets.js';

/** What `reencryptDirectory` did to one file. */
export interface ReencryptedFile {
  file: string;
  values: number;
}

/**
 * Re-encrypts, with the active key, every `{cipher}` value of the YAML files of a directory that
 * is under another key, after a key rotation. Files are edited through the YAML document model
 * (comments and layout stay), written aside and renamed into place, so a watching config server
 * never reads half a file. A file that does not parse is refused before anything is written.
 */
export async function reencryptDirectory(dir: string, keys: KeyRing): Promise<ReencryptedFile[]> {
  const names = (await readdir(dir)).filter((n) => /^[^.].*\.ya?ml$/.test(n)).sort();
  const edits: Array<{ file: string; text: string; values: number }> = [];
  for (const name of names) {
    const doc = parseDocument(await readFile(join(dir, name), 'utf8'));
    const error = doc.errors[0];
    if (error) {
      throw new ConfigSourceError(`${name}: ${error.message.split('\n')[0]}`, {
        data: { file: name, line: error.linePos?.[0].line },
      });
    }
    let values = 0;
    visit(doc, {
      Scalar(_key, node) {
        if (isScalar(node) && isEncrypted(node.value) && KeyRing.keyIdOf(node.value) !== keys.activeId) {
          node.value = keys.reencrypt(node.value);
          values++;
        }
      },
    });
    if (values > 0) edits.push({ file: name, text: doc.toString(), values });
  }
  for (const edit of edits) {
    const path = join(dir, edit.file);
    const temp = join(dir, `.${edit.file}.${process.pid}.tmp`);
    await writeFile(temp, edit.text);
    await rename(temp, path);
  }
  return edits.map(({ file, values }) => ({ file, values }));
}
