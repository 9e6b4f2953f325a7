function (newDoc, oldDoc, userCtx, secObj) {
  // Settee's users-database rules, those of CouchDB's _design/_auth.
  var forbid = function (reason) { throw ({ forbidden: reason }); };
  var isAdmin = function () {
    if (userCtx.roles.indexOf('_admin') !== -1) { return true; }
    var admins = (secObj && secObj.admins) || {};
    if ((admins.names || []).indexOf(userCtx.name) !== -1) { return true; }
    var roles = admins.roles || [];
    return userCtx.roles.some(function (r) { return roles.indexOf(r) !== -1; });
  };
  if (newDoc._deleted === true) {
    if (userCtx.roles.indexOf('_admin') !== -1 || userCtx.name == oldDoc.name) { return; }
    forbid('Only admins may delete other user docs.');
  }
  if (newDoc.type !== 'user') { forbid('doc.type must be user'); }
  if (!newDoc.name) { forbid('doc.name is required'); }
  if (!newDoc.roles) { forbid('doc.roles must exist'); }
  if (!isArray(newDoc.roles)) { forbid('doc.roles must be an array'); }
  newDoc.roles.forEach(function (r) {
    if (typeof r !== 'string') { forbid('doc.roles can only contain strings'); }
  });
  if (newDoc._id !== 'org.couchdb.user:' + newDoc.name) {
    forbid('Doc ID must be of the form org.couchdb.user:name');
  }
  if (oldDoc && oldDoc.name !== newDoc.name) { forbid('Usernames can not be changed.'); }
  if (newDoc.password_sha && !newDoc.salt) {
    forbid('Users with password_sha must have a salt.' +
      'See /_utils/script/couch.js for example code.');
  }
  if (newDoc.password_scheme && ['simple', 'pbkdf2'].indexOf(newDoc.password_scheme) === -1) {
    forbid('Password scheme `' + newDoc.password_scheme + '` not supported.');
  }
  if (newDoc.password_scheme === 'pbkdf2') {
    if (typeof newDoc.iterations !== 'number') { forbid('iterations must be a number.'); }
    if (typeof newDoc.derived_key !== 'string') { forbid('derived_key must be a string.'); }
  }
  if (!isAdmin()) {
    if (oldDoc) {
      if (userCtx.name !== newDoc.name) { forbid('You may only update your own user document.'); }
      var before = (oldDoc.roles || []).slice().sort();
      var after = newDoc.roles.slice().sort();
      if (before.length !== after.length ||
          before.some(function (r, i) { return r !== after[i]; })) {
        forbid('Only _admin may edit roles');
      }
    } else if (newDoc.roles.length > 0) {
      forbid('Only _admin may set roles');
    }
  }
  newDoc.roles.forEach(function (r) {
    if (r !== '_metrics' && r[0] === '_') {
      forbid('No system roles (starting with underscore) in users db.');
    }
  });
  if (newDoc.name[0] === '_') { forbid('Username may not start with underscore.'); }
  if (newDoc.name.indexOf(':') >= 0) { forbid('Character `:` is not allowed in usernames.'); }
}
