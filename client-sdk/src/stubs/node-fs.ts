/** Browser bundle stand-in for the Node modules `FileStorage` imports lazily: browsers use localStorage. */
function unavailable(): never {
  throw new Error('FileStorage needs Node (node:fs); in browsers the SDK keeps the device secret in localStorage');
}
export const readFile = unavailable;
export const writeFile = unavailable;
export const mkdir = unavailable;
export const rename = unavailable;
export const dirname = unavailable;
export default { readFile, writeFile, mkdir, rename, dirname };
