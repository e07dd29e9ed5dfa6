// Unit tests of the file-tree selection of the Discover page (node's test runner).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Selection, parentOf, ancestors } from '../ui/tree.js';

const dir = (path, files, size) => ({ path, name: path.split('/').pop(), is_dir: true, files, size });
const file = (path, size) => ({ path, name: path.split('/').pop(), is_dir: false, files: 1, size });

function sample() {
  const s = new Selection();
  s.load('', [dir('a', 3, 300), dir('b', 1, 10), file('top.txt', 5)]);
  s.load('a', [dir('a/x', 2, 200), file('a/one', 100)]);
  s.load('a/x', [file('a/x/p', 150), file('a/x/q', 50)]);
  return s;
}

test('paths', () => {
  assert.equal(parentOf('a/b/c'), 'a/b');
  assert.equal(parentOf('a'), '');
  assert.equal(parentOf(''), null);
  assert.deepEqual(ancestors('a/b/c'), ['', 'a', 'a/b']);
});

test('checking a folder selects everything below it', () => {
  const s = sample();
  s.check('a');
  assert.equal(s.state('a'), 'checked');
  assert.equal(s.state('a/x/p'), 'checked');
  assert.equal(s.state(''), 'mixed');
  assert.deepEqual(s.totals(), { files: 3, size: 300 });
  assert.deepEqual(s.paths(), ['a']);
});

test('unchecking a file below a checked folder leaves its siblings checked', () => {
  const s = sample();
  s.check('a');
  s.uncheck('a/x/p');
  assert.equal(s.state('a'), 'mixed');
  assert.equal(s.state('a/x'), 'mixed');
  assert.equal(s.state('a/x/q'), 'checked');
  assert.equal(s.state('a/one'), 'checked');
  assert.equal(s.state('a/x/p'), 'unchecked');
  assert.deepEqual(s.paths(), ['a/one', 'a/x/q']);
  assert.deepEqual(s.totals(), { files: 2, size: 150 });
});

test('checking every child folds them into the folder', () => {
  const s = sample();
  s.check('a/x/p');
  s.check('a/x/q');
  assert.deepEqual(s.paths(), ['a/x']);
  s.check('a/one');
  assert.deepEqual(s.paths(), ['a']);
  s.check('b');
  s.check('top.txt');
  assert.deepEqual(s.paths(), [], 'everything: an empty path list');
  assert.equal(s.state(''), 'checked');
  assert.deepEqual(s.totals(), { files: 5, size: 315 });
});

test('select all, toggle and clear', () => {
  const s = sample();
  s.selectAll();
  assert.deepEqual(s.totals(), { files: 5, size: 315 });
  s.toggle('b');
  assert.deepEqual(s.paths(), ['a', 'top.txt']);
  s.toggle('b');
  assert.deepEqual(s.paths(), []);
  s.clear();
  assert.equal(s.state(''), 'unchecked');
  assert.deepEqual(s.totals(), { files: 0, size: 0 });
});
